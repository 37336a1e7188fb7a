// Fastify: in a plugin scope of its own, accept any body unparsed (Fastify refuses a form post
// it has no parser for) and hand the raw request and response to the dashboard after hijack().
import Fastify from "fastify";
import { announce, BASE, dashboard, PORT } from "./upkeep.ts";

const app = Fastify();
await app.register(
  (scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
    scope.all("/*", (request, reply) => {
      reply.hijack();
      dashboard(request.raw, reply.raw);
    });
    scope.all("/", (request, reply) => {
      reply.hijack();
      dashboard(request.raw, reply.raw);
    });
    done();
  },
  { prefix: BASE },
);
app.get("/", async () => "the app's own routes");
await app.listen({ port: PORT, host: "127.0.0.1" });
announce("fastify", app.server);

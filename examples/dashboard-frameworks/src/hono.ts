// Hono on @hono/node-server: call the dashboard with the node request and response the adapter
// passes as bindings, and tell Hono the response is already sent.
import { type HttpBindings, serve } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { Hono } from "hono";
import { announce, BASE, dashboard, PORT } from "./upkeep.ts";

const app = new Hono<{ Bindings: HttpBindings }>();
app.all(`${BASE}/*`, (c) => {
  dashboard(c.env.incoming, c.env.outgoing);
  return RESPONSE_ALREADY_SENT;
});
app.get("/", (c) => c.text("the app's own routes"));
const server = serve({ fetch: app.fetch, port: PORT, hostname: "127.0.0.1" });
announce("hono", server as import("node:http").Server);

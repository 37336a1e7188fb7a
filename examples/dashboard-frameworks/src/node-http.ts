// Plain node:http: route the dashboard's path to it, everything else to the app.
import { createServer } from "node:http";
import { announce, BASE, dashboard, PORT } from "./upkeep.ts";

const server = createServer((request, response) => {
  if (request.url === BASE || request.url?.startsWith(`${BASE}/`)) dashboard(request, response);
  else response.writeHead(404).end("the app's own routes");
});
server.listen(PORT, "127.0.0.1");
announce("node:http", server);

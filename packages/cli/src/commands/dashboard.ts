import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createDashboard } from "@upkeep/dashboard";
import { type Command, EXIT, UsageError } from "../command.ts";

const USAGE = "upkeep dashboard [--port <n>]";

/** `upkeep dashboard`: serves the dashboard on 127.0.0.1 against the configuration's database, for local use. */
export const dashboardCommand: Command = {
  name: "dashboard",
  summary: "Serve the web dashboard on 127.0.0.1 against the configuration's database (local use; every action allowed)",
  usage: USAGE,
  options: {
    port: { type: "string", description: "Port to listen on (0 picks a free one)", short: "p" },
  },
  async run(ctx) {
    const raw = ctx.flags.port;
    const port = raw === undefined ? 4100 : Number(raw);
    if (typeof raw === "boolean" || !Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new UsageError("--port must be a whole number from 0 to 65535");
    }
    // Bound to loopback only: whoever can reach it is on this machine, so every action is allowed.
    const dashboard = createDashboard({
      upkeep: ctx.upkeep,
      db: ctx.config.db,
      tablePrefix: ctx.config.tablePrefix,
      authorize: () => true,
    });
    const server = createServer(dashboard);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    ctx.stdout(`upkeep dashboard: http://127.0.0.1:${(server.address() as AddressInfo).port}/ (Ctrl-C stops it)\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await dashboard.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    return EXIT.ok;
  },
};

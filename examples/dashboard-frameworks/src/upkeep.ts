// What every server here shares: an upkeep handle with one task (in-memory store, nothing
// scheduled) and the dashboard for it, mounted under /ops/upkeep.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { defineTask, manualAdapter, registerTasks } from "@upkeep/core";
import { createDashboard } from "@upkeep/dashboard";

export const BASE = "/ops/upkeep";
export const PORT = Number(process.env.PORT ?? 3000);

const tidy = defineTask({ id: "tidy", description: "deletes old rows", schedule: "0 3 * * *", run: () => ({ deleted: 42 }) });
export const upkeep = registerTasks(manualAdapter(), { tasks: [tidy] });
await upkeep.start();
await upkeep.run("tidy");

// A real host checks its own session here (an operator role, say). These servers listen on
// 127.0.0.1 only and allow viewing, pause and resume.
export const dashboard = createDashboard({
  upkeep,
  basePath: BASE,
  authorize: (_request, action) => action === "view" || action === "pause" || action === "resume",
});

/** Prints the dashboard's URL once `server` listens, and stops everything on SIGTERM or SIGINT. */
export function announce(framework: string, server: Server): void {
  const print = () => console.log(`${framework}: dashboard on http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE}/`);
  if (server.listening) print();
  else server.once("listening", print);
  const stop = async () => {
    await dashboard.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await upkeep.stop();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
}

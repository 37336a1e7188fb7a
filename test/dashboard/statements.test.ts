import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { defineTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { createDashboard } from "@upkeep/dashboard";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The tasks page and a task's run list read a fixed number of statements whatever the number of
// tasks: no statement per task (the sparklines, health and the last runs are one statement each
// for all the tasks), and the run list reads its own task's health only.
for (const { dialect, available } of await probeDialects(["sqlite", "postgres"])) {
  describe.skipIf(!available)(`the dashboard's statements on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    /** The statements each page costs with `count` tasks, each of which has run twice. */
    async function statements(count: number): Promise<Record<string, number>> {
      const db = database.connect();
      const prefix = `ds${count}_`;
      const tasks = Array.from({ length: count }, (_, i) => defineTask({ id: `t${i}`, schedule: "0 * * * *", run: () => ({ i }) }));
      const upkeep = registerTasks(manualAdapter(), { tasks, db, tablePrefix: prefix, logger: silentLogger, healthInterval: 0 });
      await upkeep.migrate();
      for (const task of tasks) for (let run = 0; run < 2; run++) await upkeep.run(task.id);
      const dashboard = createDashboard({ upkeep, db, tablePrefix: prefix, logger: silentLogger, authorize: () => true });
      const server = createServer(dashboard);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const seen: string[] = [];
      db.on("query", (query: { sql: string }) => seen.push(query.sql));
      const counts: Record<string, number> = {};
      try {
        for (const path of ["/", "/tasks/t0"]) {
          seen.length = 0;
          const response = await fetch(`${origin}${path}`);
          expect(response.status, path).toBe(200);
          expect(await response.text(), path).toContain("t0");
          counts[path] = seen.length;
        }
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await dashboard.close();
      }
      return counts;
    }

    it("reads as many statements for 12 tasks as for 2, on the tasks page and on a run list", async () => {
      const few = await statements(2);
      const many = await statements(12);
      expect(many).toEqual(few);
      // Health (states, tick runs), the last runs, the 30-day strip, the sparklines.
      expect(few["/"]).toBeLessThanOrEqual(5);
    });
  });
}

import { migrate } from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { lastSucceededQuery, latestRunsQuery, recentTickRunsQuery } from "../packages/core/src/store/knex-store.ts";
import { queryPlan } from "./query-plan.ts";

// Health's read of every task is one statement of one backward range of the (task_id,
// scheduled_for) index of migration 0008 per task, and the task list's newest run of each task one
// range of the (task_id, claimed_at, id) index of 0015: no scan or sort of the history, whatever its size.
for (const { dialect, available } of await probeDialects(["sqlite", "postgres"])) {
  describe.skipIf(!available)(`health's statements on ${dialect}`, () => {
    let database: TestDatabase | undefined;
    afterEach(async () => {
      await database?.destroy();
      database = undefined;
    });

    it("read each task's latest tick runs and latest success by one range of runs_task_tick per task, without a sort", async () => {
      database = await createTestDatabase(dialect);
      await migrate(database.knex, "hq_");
      const tasks = ["cleanup", "key-rotation", "heartbeats"];
      for (const query of [recentTickRunsQuery(database.knex, "hq_runs", tasks, 50), lastSucceededQuery(database.knex, "hq_runs", tasks)]) {
        const text = await queryPlan(database.knex, dialect, query);
        expect(text.match(/hq_runs_task_tick/g), text).toHaveLength(tasks.length);
        expect(text, text).not.toMatch(/TEMP B-TREE|Sort|Seq Scan|SCAN hq_runs\b(?! USING)/);
      }
    });

    it("reads each task's newest run by one range of runs_task_claimed per task, without a sort", async () => {
      database = await createTestDatabase(dialect);
      await migrate(database.knex, "hq_");
      const tasks = ["cleanup", "key-rotation", "heartbeats"];
      const text = await queryPlan(database.knex, dialect, latestRunsQuery(database.knex, "hq_runs", tasks));
      expect(text.match(/hq_runs_task_claimed/g), text).toHaveLength(tasks.length);
      expect(text, text).not.toMatch(/TEMP B-TREE|Sort|Seq Scan|SCAN hq_runs\b(?! USING)/);
    });
  });
}

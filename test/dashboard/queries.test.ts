import { MIGRATIONS, migrate } from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterEach, describe, expect, it } from "vitest";
import { runsQuery } from "../../packages/dashboard/src/queries.ts";
import { queryPlan } from "../query-plan.ts";

// The run list's statement is one range of the (task_id, claimed_at, id) index of migration 0015,
// on its first page and on a later one (the keyset cursor), with no sort of the task's history.
// Before 0015 the same statement sorted: SQLite says "USE TEMP B-TREE FOR ORDER BY", PostgreSQL
// plans a Sort node.
const cursor = { claimedAt: 1_700_000_000_000, id: "00000000-0000-4000-8000-000000000009" };

function plan(db: Knex, dialect: string, table: string, withCursor: boolean): Promise<string> {
  return queryPlan(db, dialect, runsQuery(db, table, "cleanup", {}, withCursor ? cursor : null, 51));
}

for (const { dialect, available } of await probeDialects(["sqlite", "postgres"])) {
  describe.skipIf(!available)(`the dashboard's run list query on ${dialect}`, () => {
    let database: TestDatabase | undefined;
    afterEach(async () => {
      await database?.destroy();
      database = undefined;
    });

    it("reads one range of the runs_task_claimed index, first page and cursor page, without a sort", async () => {
      database = await createTestDatabase(dialect);
      await migrate(database.knex, "q_");
      for (const withCursor of [false, true]) {
        const text = await plan(database.knex, dialect, "q_runs", withCursor);
        expect(text, text).toContain("q_runs_task_claimed");
        expect(text, text).not.toMatch(/TEMP B-TREE|Sort/);
      }
    });

    it("sorts the task's runs on a schema before 0015 (what the index is for)", async () => {
      database = await createTestDatabase(dialect);
      await migrate(
        database.knex,
        "old_",
        MIGRATIONS.filter((migration) => migration.name !== "0015_runs_task_claimed"),
      );
      const text = await plan(database.knex, dialect, "old_runs", false);
      expect(text, text).toMatch(/TEMP B-TREE FOR ORDER BY|Sort/);
    });
  });
}

import { randomBytes } from "node:crypto";
import knex from "knex";
import { describe, expect, it } from "vitest";
import { localKek } from "../../crypto/kek.ts";
import { ConfigError } from "../../errors.ts";
import { silentLogger } from "../../logger.ts";
import { manualAdapter } from "../../manual-adapter.ts";
import { registerTasks } from "../../register.ts";
import { defineTask } from "../../task.ts";
import { keyRotationTask } from "./task.ts";

const kek = localKek(randomBytes(32));
// The task needs a database to register; these cases never query it (knex connects on first use).
const db = knex({ client: "pg" });

function configError(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("keyRotationTask", () => {
  it("is the key-rotation task, daily at 00:20 UTC, with overridable id and schedule", () => {
    const task = keyRotationTask({ kek });
    expect(task.id).toBe("key-rotation");
    expect(task.schedule).toBe("20 0 * * *");
    const upkeep = registerTasks(manualAdapter(), { db, tasks: [task], logger: silentLogger });
    expect(upkeep.jobs[0]?.pattern).toBe("20 0 * * *");
    expect(keyRotationTask({ kek, id: "rotate-keys", schedule: "0 4 * * 0", timezone: "Europe/Paris" })).toMatchObject({
      id: "rotate-keys",
      schedule: "0 4 * * 0",
      timezone: "Europe/Paris",
    });
  });

  it("rejects bad options at registration, naming each field and never a key", () => {
    const badKey = "this-is-not-a-fernet-key-value";
    const error = configError(() =>
      registerTasks(manualAdapter(), {
        logger: silentLogger,
        tasks: [
          keyRotationTask({
            kek: { id: "x" } as unknown as typeof kek,
            maxAgeDays: -1,
            columns: [{ table: "users; drop table x", column: "api_key" }],
            fernet: [{ table: "totp", column: "secret", keys: [badKey] }],
          }),
        ],
      }),
    );
    const paths = error.issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "tasks.key-rotation.input.kek",
        "tasks.key-rotation.input.maxAgeDays",
        "tasks.key-rotation.input.columns.0.table",
        "tasks.key-rotation.input.fernet.0.keys.0",
      ]),
    );
    expect(error.message).not.toContain(badKey);
  });

  it("refuses former KEKs without the task's own kek, pointing at the configuration's crypto", () => {
    const error = configError(() =>
      registerTasks(manualAdapter(), { db, logger: silentLogger, crypto: { kek }, tasks: [keyRotationTask({ previousKeks: [kek] })] }),
    );
    expect(error.issues).toEqual([
      { path: "tasks.key-rotation.input.previousKeks", message: expect.stringMatching(/crypto\.previousKeks/) },
    ]);
    expect(() => registerTasks(manualAdapter(), { db, logger: silentLogger, crypto: { kek }, tasks: [keyRotationTask({})] })).not.toThrow();
  });

  it("refuses upkeep.crypto when the configuration has a KEK but no database", () => {
    const upkeep = registerTasks(manualAdapter(), { tasks: [], logger: silentLogger, crypto: { kek } });
    expect(() => upkeep.crypto).toThrow(/db/);
  });

  it("gets the configuration's table prefix through ctx.tablePrefix (core: tasks owning upkeep tables need it)", async () => {
    const probe = defineTask({ id: "probe", schedule: "* * * * *", run: (ctx) => ctx.tablePrefix });
    const custom = registerTasks(manualAdapter(), { tasks: [probe], tablePrefix: "acme_", logger: silentLogger });
    expect((await custom.run("probe")).result).toBe("acme_");
    const plain = registerTasks(manualAdapter(), { tasks: [probe], logger: silentLogger });
    expect((await plain.run("probe")).result).toBe("upkeep_");
  });
});

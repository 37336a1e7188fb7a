import { ConfigError, envKek, keyRotationTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// envKek() with its variable unset: the config loads, and every use of the KEK fails naming the
// variable (never a value), starting with start() of a process that runs the key-rotation task.
describe("a configuration whose envKek() variable is unset (SQLite)", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const config = (withRotation: boolean) => ({
    db: database.knex,
    logger: silentLogger,
    crypto: { kek: envKek("APP_KEK", { env: {} }) },
    tasks: withRotation ? [keyRotationTask({ columns: [] })] : [],
  });

  it("start() with the key-rotation task fails with a ConfigError naming the variable", async () => {
    const upkeep = registerTasks(manualAdapter(), config(true));
    const started = upkeep.start();
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(/APP_KEK: is not set/);
    await upkeep.stop();
  });

  it("upkeep.crypto.encrypt fails naming the variable, and stores no data key", async () => {
    const upkeep = registerTasks(manualAdapter(), config(false));
    await upkeep.migrate();
    await expect(upkeep.crypto.encrypt("secret")).rejects.toThrow(/APP_KEK: is not set/);
    expect(await upkeep.crypto.keys()).toEqual([]);
  });
});

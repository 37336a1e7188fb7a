import { randomBytes } from "node:crypto";
import {
  createCrypto,
  keyRotationTask,
  localKek,
  manualAdapter,
  registerTasks,
  rowAad,
  silentLogger,
  type UpkeepConfig,
} from "@upkeep/core";
import { createTestDatabase, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT, UsageError } from "../../packages/cli/src/command.ts";
import { keysCommand } from "../../packages/cli/src/commands/keys.ts";
import { commandContext } from "../fixtures/cli-context.ts";

const NOW = new Date("2026-03-01T00:20:00Z");
let ticks = 0;
const clock = () => new Date(NOW.getTime() + ++ticks * 1000);

describe("upkeep keys (SQLite)", () => {
  let database: TestDatabase;
  let config: UpkeepConfig;
  let secret: string;
  const kekHex = randomBytes(32).toString("hex");
  const kek = localKek(kekHex);

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    const db = database.knex;
    await db.schema.createTable("integrations", (t) => {
      t.increments("id");
      t.text("api_token");
    });
    config = {
      db,
      clock,
      logger: silentLogger,
      crypto: { kek },
      tasks: [keyRotationTask({ kek, columns: [{ table: "integrations", column: "api_token" }], batchSize: 2 })],
    };
    await registerTasks(manualAdapter(), config).migrate();
    const old = createCrypto({ db, kek, clock: () => new Date(NOW.getTime() - 40 * 86_400_000) });
    for (let id = 1; id <= 5; id++) {
      secret = `tok_${id}_${randomBytes(6).toString("hex")}`;
      await db("integrations").insert({ id, api_token: await old.encrypt(secret, { aad: rowAad("integrations", "api_token", id) }) });
    }
  });
  afterAll(async () => {
    await database?.destroy();
  });

  async function keys(
    positionals: string[],
    flags: Record<string, string | boolean> = {},
    options: { json?: boolean; tty?: boolean } = {},
  ) {
    const { ctx, out, err } = commandContext(config, positionals, flags, { ...options, now: clock });
    const code = await keysCommand.run(ctx);
    return { code, out: out(), err: err() };
  }

  it("status shows the active key's age and due date and rows per key per column", async () => {
    const { code, out } = await keys(["status"]);
    expect(code).toBe(EXIT.ok);
    expect(out).toMatch(/active key [0-9a-f]{16} \(generation 1\), 40 days old; due now/);
    expect(out).toMatch(/integrations\.api_token \(envelope\) {2}[0-9a-f]{16}: 5/);
    expect(out).toMatch(/kek local:[0-9a-f]{12}/);
  });

  it("rotate --dry-run changes nothing; rotate moves every row with progress and retires the old key", async () => {
    const before = await database.knex("integrations").orderBy("id");
    const dry = await keys(["rotate"], { "dry-run": true });
    expect(dry.code).toBe(EXIT.ok);
    expect(dry.out).toMatch(/dry run: nothing was changed/);
    expect(await database.knex("integrations").orderBy("id")).toEqual(before);

    const { code, out } = await keys(["rotate"], {}, { tty: true });
    expect(code).toBe(EXIT.ok);
    expect(out).toMatch(/integrations\.api_token \[█+\] 100% 5\/5 rows/);
    expect(out).toMatch(/new active key [0-9a-f]{16}/);
    expect(out).toMatch(/integrations\.api_token: 5 re-encrypted, 0 left to newer app writes, 0 undecryptable/);
    expect(out).toMatch(/retired: [0-9a-f]{16}/);
    const status = JSON.parse((await keys(["status"], {}, { json: true })).out);
    expect(Object.values(status.columns[0].rowsByKey)).toEqual([5]);
  });

  it("rotate exits 0 and says why when the run is skipped because another rotation is still going, like `upkeep run`", async () => {
    const db = database.knex;
    const live = { id: "live-rotation", task_id: "key-rotation", claim_key: "manual:live-rotation", trigger: "manual", status: "running" };
    await db("upkeep_runs").insert({
      ...live,
      scheduled_for: NOW.getTime() - 60_000,
      claimed_at: NOW.getTime() - 60_000,
      lease_until: NOW.getTime() + 3_600_000,
      host: "elsewhere",
      pid: 1,
    });
    const before = await db("integrations").orderBy("id");
    try {
      const { code, out } = await keys(["rotate"]);
      expect(out).toBe("key-rotation: skipped (overlap: a run of this task is still going)\n");
      expect(code).toBe(EXIT.ok);
      expect(await db("integrations").orderBy("id")).toEqual(before);
    } finally {
      await db("upkeep_runs").where({ id: live.id }).del();
    }
  });

  it("rewrap moves every data key to the configured KEK without touching rows, and prints no secret", async () => {
    const before = await database.knex("integrations").orderBy("id");
    const nextKek = localKek(randomBytes(32));
    const saved = config;
    config = { ...config, crypto: { kek: nextKek, previousKeks: [kek] } };
    try {
      const { code, out } = await keys(["rewrap"]);
      expect(code).toBe(EXIT.ok);
      expect(out).toMatch(new RegExp(`re-wrapped 2 data key\\(s\\) under KEK ${nextKek.id}`));
      expect(await database.knex("integrations").orderBy("id")).toEqual(before);
      const all = out + (await keys(["status"])).out;
      for (const value of [kekHex, secret, ...before.map((row) => String(row.api_token))]) expect(all).not.toContain(value);
    } finally {
      config = saved;
    }
  });

  it("rejects an unknown action with the usage line", async () => {
    await expect(keys(["spin"])).rejects.toThrow(UsageError);
    await expect(keys([])).rejects.toThrow(/missing action: upkeep keys status/);
  });
});

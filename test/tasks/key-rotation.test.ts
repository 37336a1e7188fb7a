import { randomBytes } from "node:crypto";
import {
  ConfigError,
  type CryptoConfig,
  createCrypto,
  createJsonLogger,
  fernet,
  generateFernetKey,
  type KeyRotationResult,
  keyIdOf,
  keyRotationTask,
  keysStatus,
  keysStatusOf,
  localKek,
  manualAdapter,
  type RunRecord,
  registerTasks,
  rewrapConfiguredKeys,
  rewrapKeys,
  rotateKeysNow,
  rowAad,
  silentLogger,
  type TaskEntry,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killHard, startFixture, untilOutput } from "../fixtures/child.ts";

const DAY = 86_400_000;
const NOW = new Date("2026-03-01T00:20:00Z");
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY);

// Each call is a second later, so consecutive manual runs are distinct ticks (a run claims its moment).
let ticks = 0;
const clock = () => new Date(NOW.getTime() + ++ticks * 1000);

let counter = 0;
const fresh = () => ++counter;

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`key-rotation on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    /** A fresh prefix (its own keyring) and a fresh secrets table. */
    async function setup(options: { rows?: number; keyAgeDays?: number } = {}) {
      const n = fresh();
      const prefix = `k${n}_`;
      const table = `secrets_${n}`;
      const kekHex = randomBytes(32).toString("hex");
      const kek = localKek(kekHex);
      const db = database.knex;
      await db.schema.createTable(table, (t) => {
        t.increments("id");
        t.text("secret");
      });
      const host = registerTasks(manualAdapter(), { tasks: [], db, tablePrefix: prefix, logger: silentLogger });
      await host.migrate();
      const seeder = createCrypto({ db, kek, tablePrefix: prefix, clock: () => daysAgo(options.keyAgeDays ?? 40) });
      const plaintexts = new Map<number, string>();
      for (let i = 1; i <= (options.rows ?? 0); i++) {
        const plaintext = `secret-${n}-${i}-${randomBytes(4).toString("hex")}`;
        plaintexts.set(i, plaintext);
        await db(table).insert({ id: i, secret: await seeder.encrypt(plaintext, { aad: rowAad(table, "secret", i) }) });
      }
      const oldKey = await seeder.activeKey();
      return { prefix, table, kek, kekHex, db, plaintexts, oldKeyId: oldKey?.id, seeder };
    }

    function host(
      entry: TaskEntry | TaskEntry["task"],
      options: { prefix: string; logger?: Parameters<typeof registerTasks>[1]["logger"]; crypto?: CryptoConfig },
    ) {
      const adapter = manualAdapter();
      return registerTasks(adapter, {
        tasks: [entry],
        db: database.knex,
        tablePrefix: options.prefix,
        logger: options.logger ?? silentLogger,
        clock,
        crypto: options.crypto,
      });
    }

    async function rows(db: Knex, table: string) {
      return (await db(table).select("id", "secret").orderBy("id")) as Array<{ id: number; secret: string | null }>;
    }

    const resultOf = (run: RunRecord) => run.result as KeyRotationResult;

    it("encrypts and decrypts through upkeep.crypto, making the first key on first use", async () => {
      const { prefix, kek, table } = await setup();
      const upkeep = registerTasks(manualAdapter(), {
        tasks: [],
        db: database.knex,
        tablePrefix: prefix,
        logger: silentLogger,
        crypto: { kek },
      });
      await upkeep.migrate();
      const text = await upkeep.crypto.encrypt("hunter2", { aad: rowAad(table, "secret", 1) });
      expect(keyIdOf(text)).toBe((await upkeep.crypto.activeKey())?.id);
      expect(await upkeep.crypto.decrypt(text, { aad: rowAad(table, "secret", 1) })).toBe("hunter2");
      await expect(upkeep.crypto.decrypt(text, { aad: rowAad(table, "secret", 2) })).rejects.toMatchObject({ code: "DECRYPT_FAILED" });
      const wrapped = await database.knex(`${prefix}keys`).select("wrapped_key");
      expect(wrapped).toHaveLength(1);
      expect(String(wrapped[0].wrapped_key)).toMatch(/^v1\./);
    });

    it("refuses upkeep.crypto without a crypto section, naming the field", () => {
      const upkeep = registerTasks(manualAdapter(), { tasks: [], db: database.knex, logger: silentLogger });
      expect(() => upkeep.crypto).toThrow(ConfigError);
      expect(() => upkeep.crypto).toThrow(/crypto/);
    });

    it("reloads the keyring once when it meets a key id it has not seen, then fails clearly", async () => {
      const { prefix, kek, seeder } = await setup({ rows: 0 });
      const other = createCrypto({ db: database.connect(), kek, tablePrefix: prefix, cacheFor: "1h" });
      await seeder.encrypt("warm");
      await other.keys();
      await seeder.rotate();
      const fresh = await seeder.encrypt("made with the new key");
      expect(await other.decrypt(fresh)).toBe("made with the new key");
      const unknown = fresh.replace(keyIdOf(fresh) as string, "0000000000000000");
      await expect(other.decrypt(unknown)).rejects.toMatchObject({ code: "KEY_NOT_FOUND" });
    });

    it("rotates a key past maxAgeDays, moves every row to it and retires the old key at zero rows", async () => {
      const s = await setup({ rows: 23 });
      const upkeep = host(
        keyRotationTask({ kek: s.kek, tablePrefix: s.prefix, columns: [{ table: s.table, column: "secret" }], batchSize: 4 }),
        s,
      );
      const run = await upkeep.run("key-rotation");
      expect(run.status).toBe("succeeded");
      const result = resultOf(run);
      expect(result.rotated).toBe(true);
      expect(result.activeKeyId).not.toBe(s.oldKeyId);
      expect(result.columns[0]).toMatchObject({ reencrypted: 23, conflicts: 0, undecryptable: 0, unrecognised: 0 });
      expect(result.columns[0]?.rowsByKey).toEqual({ [result.activeKeyId as string]: 23 });
      expect(result.retired).toEqual([s.oldKeyId]);
      const crypto = createCrypto({ db: s.db, kek: s.kek, tablePrefix: s.prefix });
      for (const row of await rows(s.db, s.table)) {
        expect(keyIdOf(row.secret)).toBe(result.activeKeyId);
        expect(await crypto.decrypt(row.secret as string, { aad: rowAad(s.table, "secret", row.id) })).toBe(s.plaintexts.get(row.id));
      }
      const keys = await crypto.keys();
      expect(keys.find((key) => key.id === s.oldKeyId)?.status).toBe("retired");
      expect(await crypto.retire(result.activeKeyId as string)).toBe(false);
      // A retired key still decrypts: a straggler row written with it is never lost.
      const straggler = await s.seeder.encrypt("late writer");
      expect(await crypto.decrypt(straggler)).toBe("late writer");
    });

    it("leaves a young key alone and changes nothing", async () => {
      const s = await setup({ rows: 5, keyAgeDays: 10 });
      const before = await rows(s.db, s.table);
      const upkeep = host(keyRotationTask({ kek: s.kek, tablePrefix: s.prefix, columns: [{ table: s.table, column: "secret" }] }), s);
      const result = resultOf(await upkeep.run("key-rotation"));
      expect(result).toMatchObject({ rotated: false, rotationDue: false, activeKeyId: s.oldKeyId, retired: [] });
      expect(result.columns[0]?.reencrypted).toBe(0);
      expect(await rows(s.db, s.table)).toEqual(before);
    });

    it("reports undecryptable rows by id, leaves them as they were and keeps their key until they are gone", async () => {
      const s = await setup({ rows: 6 });
      const original = (await rows(s.db, s.table)).find((row) => row.id === 2)?.secret as string;
      const tampered = `${original.slice(0, -6)}${original.slice(-6).split("").reverse().join("")}`;
      await s.db(s.table).where({ id: 2 }).update({ secret: tampered });
      await s.db(s.table).where({ id: 4 }).update({ secret: "not encrypted at all" });
      await s
        .db(s.table)
        .where({ id: 5 })
        .update({ secret: (await rows(s.db, s.table))[0]?.secret });
      const upkeep = host(keyRotationTask({ kek: s.kek, tablePrefix: s.prefix, columns: [{ table: s.table, column: "secret" }] }), s);
      const run = await upkeep.run("key-rotation");
      const result = resultOf(run);
      expect(run.status).toBe("succeeded");
      expect(result.columns[0]).toMatchObject({ reencrypted: 3, undecryptable: 3, undecryptableIds: [2, 4, 5] });
      const after = await rows(s.db, s.table);
      expect(after.find((row) => row.id === 2)?.secret).toBe(tampered);
      expect(after.find((row) => row.id === 4)?.secret).toBe("not encrypted at all");
      expect(result.retired).toEqual([]);

      await s.db(s.table).whereIn("id", [2, 5]).delete();
      const again = resultOf(await upkeep.run("key-rotation"));
      expect(again.rotated).toBe(false);
      expect(again.columns[0]).toMatchObject({ undecryptable: 1, undecryptableIds: [4] });
      expect(again.retired).toEqual([s.oldKeyId]);
    });

    it("keeps a value the app writes between the pass reading a row and writing it back", async () => {
      const s = await setup({ rows: 8 });
      const app = createCrypto({ db: database.connect(), kek: s.kek, tablePrefix: s.prefix });
      await app.activeKey(); // the app has the keyring cached from before the rotation
      const appDb = database.connect();
      let written: string | undefined;
      const aad = async (id: string | number) => {
        if (Number(id) === 6 && written === undefined) {
          written = await app.encrypt("the app's newer value", { aad: rowAad(s.table, "secret", 6) });
          await appDb(s.table).where({ id: 6 }).update({ secret: written });
        }
        return rowAad(s.table, "secret", id);
      };
      const upkeep = host(
        keyRotationTask({ kek: s.kek, tablePrefix: s.prefix, columns: [{ table: s.table, column: "secret", aad }], batchSize: 3 }),
        s,
      );
      const result = resultOf(await upkeep.run("key-rotation"));
      expect(result.columns[0]).toMatchObject({ reencrypted: 7, conflicts: 1, undecryptable: 0 });
      expect(result.retired).toEqual([]);
      const row6 = (await rows(s.db, s.table)).find((row) => row.id === 6);
      expect(row6?.secret).toBe(written);
      expect(await app.decrypt(row6?.secret as string, { aad: rowAad(s.table, "secret", 6) })).toBe("the app's newer value");
      // The app wrote with the key it had cached (the old one); the next run moves it and then retires the key.
      const again = resultOf(await upkeep.run("key-rotation"));
      expect(again.columns[0]?.reencrypted).toBe(1);
      expect(again.retired).toEqual([s.oldKeyId]);
    });

    it("resumes after the process is killed mid-pass: no row lost, none double-encrypted, none left on the old key", async () => {
      const s = await setup({ rows: 60 });
      const child = startFixture("key-rotation-child", [dialect, database.target, s.prefix, s.table, s.kekHex]);
      await untilOutput(child, (output) => output.includes("batch"));
      await killHard(child);

      const crypto = createCrypto({ db: s.db, kek: s.kek, tablePrefix: s.prefix });
      const active = await crypto.activeKey();
      expect(active?.id).not.toBe(s.oldKeyId);
      const midway = await rows(s.db, s.table);
      const moved = midway.filter((row) => keyIdOf(row.secret) === active?.id).length;
      expect(moved).toBeGreaterThan(0);
      expect(moved).toBeLessThan(60);

      const upkeep = host(
        keyRotationTask({ kek: s.kek, tablePrefix: s.prefix, columns: [{ table: s.table, column: "secret" }], batchSize: 5 }),
        s,
      );
      const result = resultOf(await upkeep.run("key-rotation"));
      expect(result.rotated).toBe(false);
      expect(result.columns[0]).toMatchObject({ reencrypted: 60 - moved, undecryptable: 0, rowsByKey: { [active?.id as string]: 60 } });
      expect(result.retired).toEqual([s.oldKeyId]);
      const after = await rows(s.db, s.table);
      expect(after).toHaveLength(60);
      for (const row of after) {
        expect(keyIdOf(row.secret)).toBe(active?.id);
        // Decrypting once gives the original plaintext, not another ciphertext.
        expect(await crypto.decrypt(row.secret as string, { aad: rowAad(s.table, "secret", row.id) })).toBe(s.plaintexts.get(row.id));
      }
    });

    it("dry run counts rows per key id per column and changes nothing", async () => {
      const s = await setup({ rows: 4 });
      const young = createCrypto({ db: s.db, kek: s.kek, tablePrefix: s.prefix, clock: () => daysAgo(1) });
      const newKey = await young.rotate();
      await s.db(s.table).insert({ id: 5, secret: await young.encrypt("x", { aad: rowAad(s.table, "secret", 5) }) });
      await s.db(s.table).insert({ id: 6, secret: "garbage" });
      const before = await rows(s.db, s.table);
      const keysBefore = await s.db(`${s.prefix}keys`).select("*").orderBy("id");
      const upkeep = host(keyRotationTask({ kek: s.kek, tablePrefix: s.prefix, columns: [{ table: s.table, column: "secret" }] }), s);
      const run = await upkeep.run("key-rotation", { dryRun: true, input: { force: true } });
      const result = resultOf(run);
      expect(result).toMatchObject({ dryRun: true, rotated: false, rotationDue: true, note: expect.stringMatching(/nothing was changed/) });
      expect(result.columns[0]?.rowsByKey).toEqual({ [s.oldKeyId as string]: 4, [newKey.id]: 1 });
      expect(result.columns[0]?.unrecognised).toBe(1);
      expect(await rows(s.db, s.table)).toEqual(before);
      expect(await s.db(`${s.prefix}keys`).select("*").orderBy("id")).toEqual(keysBefore);
    });

    it("rotates Fernet columns to the first key, keeping each token's timestamp and reporting bad tokens", async () => {
      const n = fresh();
      const table = `totp_${n}`;
      const prefix = `f${n}_`;
      const [oldKey, newKey] = [generateFernetKey(), generateFernetKey()];
      await createTotpTable(database.knex, table);
      const made = new Date("2025-06-01T12:00:00Z");
      const old = fernet(oldKey);
      await database.knex(table).insert([
        { id: 1, totp_secret: old.encrypt("JBSWY3DPEHPK3PXP", made) },
        { id: 2, totp_secret: fernet(newKey).encrypt("ALREADYNEW", made) },
        { id: 3, totp_secret: old.encrypt("KRSXG5CTMVRXEZLU", made) },
        { id: 4, totp_secret: fernet(generateFernetKey()).encrypt("unknown key", made) },
      ]);
      const kek = localKek(randomBytes(32));
      const entry = keyRotationTask({
        kek,
        tablePrefix: prefix,
        fernet: [{ table, column: "totp_secret", keys: [newKey, oldKey] }],
        batchSize: 2,
      });
      const upkeep = host(entry, { prefix });
      await upkeep.migrate();
      const dry = resultOf(await upkeep.run("key-rotation", { dryRun: true }));
      expect(dry.columns[0]).toMatchObject({ kind: "fernet", rowsByKey: { 0: 1, 1: 2 }, unrecognised: 1 });
      const result = resultOf(await upkeep.run("key-rotation"));
      expect(result.columns[0]).toMatchObject({
        reencrypted: 2,
        undecryptable: 1,
        undecryptableIds: [4],
        rowsByKey: { 0: 3 },
        unrecognised: 1,
      });
      const after = (await database.knex(table).orderBy("id")) as Array<{ id: number; totp_secret: string }>;
      const primary = fernet(newKey);
      expect(primary.decrypt(after[0]?.totp_secret as string).toString()).toBe("JBSWY3DPEHPK3PXP");
      expect(primary.timestamp(after[0]?.totp_secret as string).toISOString()).toBe(made.toISOString());
      expect(primary.decrypt(after[2]?.totp_secret as string).toString()).toBe("KRSXG5CTMVRXEZLU");
      expect(after[3]?.totp_secret).toBe((await database.knex(table).where({ id: 4 }).first())?.totp_secret);
      // Only now may the old key leave the list: a process holding [newKey] alone reads every rotated row.
      expect(fernet(newKey).verifies(after[0]?.totp_secret as string)).toBe(true);
    });

    it("rotates Fernet tokens and keys in the forms Python services write: standard alphabet, whitespace, newlines (issue 18)", async () => {
      const n = fresh();
      const table = `totp_${n}`;
      const [oldKey, newKey] = [generateFernetKey(), generateFernetKey()];
      const standard = (text: string) => text.replace(/-/g, "+").replace(/_/g, "/");
      await createTotpTable(database.knex, table);
      const made = new Date("2025-06-01T12:00:00Z");
      const oldToken = fernet(oldKey).encrypt("JBSWY3DPEHPK3PXP", made);
      const newToken = fernet(newKey).encrypt("ALREADYNEW", made);
      await database.knex(table).insert([
        { id: 1, totp_secret: `${standard(oldToken)}\n` },
        { id: 2, totp_secret: ` ${newToken}\r\n` },
      ]);
      const entry = keyRotationTask({
        kek: localKek(randomBytes(32)),
        tablePrefix: `f${n}_`,
        // A key list as a Python service's settings may hold it: standard alphabet, a trailing newline.
        fernet: [{ table, column: "totp_secret", keys: [`${standard(newKey)}\n`, ` ${oldKey}`] }],
      });
      const upkeep = host(entry, { prefix: `f${n}_` });
      await upkeep.migrate();
      const run = await upkeep.run("key-rotation");
      expect(run.status).toBe("succeeded");
      expect(resultOf(run).columns[0]).toMatchObject({ reencrypted: 1, undecryptable: 0, rowsByKey: { 0: 2 }, unrecognised: 0 });
      const after = (await database.knex(table).orderBy("id")) as Array<{ id: number; totp_secret: string }>;
      expect(after[0]?.totp_secret).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
      expect(
        fernet(newKey)
          .decrypt(after[0]?.totp_secret as string)
          .toString(),
      ).toBe("JBSWY3DPEHPK3PXP");
      expect(
        fernet(newKey)
          .timestamp(after[0]?.totp_secret as string)
          .toISOString(),
      ).toBe(made.toISOString());
      // On the primary key already: kept as the Python service wrote it.
      expect(after[1]?.totp_secret).toBe(` ${newToken}\r\n`);
    });

    it("re-wraps data keys under a new KEK without touching a data row", async () => {
      const s = await setup({ rows: 3 });
      const nextKek = localKek(randomBytes(32));
      const before = await rows(s.db, s.table);
      const stranger = createCrypto({ db: s.db, kek: nextKek, tablePrefix: s.prefix });
      await expect(stranger.decrypt(before[0]?.secret as string, { aad: rowAad(s.table, "secret", 1) })).rejects.toThrow(
        /wrapped by KEK "local:[0-9a-f]{12}", which is not configured/,
      );
      const dry = await rewrapKeys({ db: s.db, kek: nextKek, previousKeks: [s.kek], tablePrefix: s.prefix, dryRun: true });
      expect(dry.rewrapped).toEqual([s.oldKeyId]);
      const result = await rewrapKeys({ db: s.db, kek: nextKek, previousKeks: [s.kek], tablePrefix: s.prefix });
      expect(result).toMatchObject({ rewrapped: [s.oldKeyId], unchanged: [], conflicts: [] });
      expect(await rows(s.db, s.table)).toEqual(before);
      const after = createCrypto({ db: s.db, kek: nextKek, tablePrefix: s.prefix });
      expect(await after.decrypt(before[0]?.secret as string, { aad: rowAad(s.table, "secret", 1) })).toBe(s.plaintexts.get(1));
      expect((await rewrapKeys({ db: s.db, kek: nextKek, previousKeks: [], tablePrefix: s.prefix })).unchanged).toEqual([s.oldKeyId]);
    });

    it("keysStatus shows the active key's age, its due date and rows per key per column", async () => {
      const s = await setup({ rows: 3, keyAgeDays: 12 });
      const status = await keysStatus({
        db: s.db,
        tablePrefix: s.prefix,
        columns: [{ table: s.table, id: "id", column: "secret", aad: "row" }],
        now: NOW,
      });
      expect(status.active).toMatchObject({ id: s.oldKeyId, ageDays: 12, due: false });
      expect(status.active?.dueAt.toISOString()).toBe(new Date(daysAgo(12).getTime() + 30 * DAY).toISOString());
      expect(status.columns).toEqual([
        { table: s.table, column: "secret", kind: "envelope", rowsByKey: { [s.oldKeyId as string]: 3 }, unrecognised: 0 },
      ]);
    });

    it("backs the keys commands: status from the config, rotate now with progress, rewrap to the config's KEK", async () => {
      const s = await setup({ rows: 7, keyAgeDays: 3 });
      const config = {
        db: s.db,
        tablePrefix: s.prefix,
        logger: silentLogger,
        clock,
        crypto: { kek: s.kek },
        tasks: [keyRotationTask({ kek: s.kek, columns: [{ table: s.table, column: "secret" }], batchSize: 3 })],
      };
      const status = await keysStatusOf(config);
      expect(status.active).toMatchObject({ id: s.oldKeyId, ageDays: 3, due: false });
      expect(status.columns[0]?.rowsByKey).toEqual({ [s.oldKeyId as string]: 7 });

      const upkeep = registerTasks(manualAdapter(), config);
      const seen: number[] = [];
      const run = await rotateKeysNow(upkeep, { onProgress: (progress) => seen.push(progress.done) });
      await expect(resultOf(run)).toMatchObject({ rotated: true, retired: [s.oldKeyId] });
      expect(seen).toEqual([0, 3, 6, 7]);
      const after = await keysStatusOf(config);
      expect(after.columns[0]?.rowsByKey).toEqual({ [after.active?.id as string]: 7 });

      const nextKek = localKek(randomBytes(32));
      const rewrapped = await rewrapConfiguredKeys({ ...config, crypto: { kek: nextKek, previousKeks: [s.kek] } });
      expect(rewrapped.rewrapped.sort()).toEqual([s.oldKeyId, after.active?.id].sort());
      const reader = createCrypto({ db: s.db, kek: nextKek, tablePrefix: s.prefix });
      const row = (await rows(s.db, s.table))[0];
      expect(await reader.decrypt(row?.secret as string, { aad: rowAad(s.table, "secret", 1) })).toBe(s.plaintexts.get(1));
      expect(() => keysStatusOf({ ...config, tasks: [] })).toThrow(/no task with id "key-rotation"/);
    });

    it("uses the configuration's crypto when the task has no kek of its own, so the app reads what it rotated", async () => {
      const s = await setup({ rows: 6 });
      const upkeep = host(keyRotationTask({ columns: [{ table: s.table, column: "secret" }], batchSize: 4 }), {
        ...s,
        crypto: { kek: s.kek },
      });
      await upkeep.start();
      try {
        const run = await upkeep.run("key-rotation");
        expect(run.status).toBe("succeeded");
        expect(resultOf(run)).toMatchObject({ rotated: true, retired: [s.oldKeyId] });
        const active = await upkeep.crypto.activeKey();
        expect(active?.id).toBe(resultOf(run).activeKeyId);
        expect(active?.kekId).toBe(s.kek.id);
        for (const row of await rows(s.db, s.table)) {
          expect(keyIdOf(row.secret)).toBe(active?.id);
          expect(await upkeep.crypto.decrypt(row.secret as string, { aad: rowAad(s.table, "secret", row.id) })).toBe(
            s.plaintexts.get(row.id),
          );
        }
      } finally {
        await upkeep.stop();
      }
    });

    it("refuses a task kek that is not the configuration's, and a task with no KEK anywhere, before any key is made", async () => {
      const s = await setup({ rows: 2 });
      const other = localKek(randomBytes(32));
      const keysBefore = await s.db(`${s.prefix}keys`).select("id", "kek_id");
      const mismatched = host(keyRotationTask({ kek: other, columns: [{ table: s.table, column: "secret" }] }), {
        ...s,
        crypto: { kek: s.kek },
      });
      const refused = await mismatched.start().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).issues.map((issue) => issue.path)).toEqual(["tasks.key-rotation.input.kek"]);
      expect((refused as ConfigError).message).not.toContain(other.id);
      // A manual run does not go through start(): the run itself refuses, changing nothing.
      const run = await mismatched.run("key-rotation", { input: { force: true } });
      expect(run.status).toBe("failed");
      expect(run.errorMessage).toMatch(/kek: is not the configuration's crypto\.kek/);
      expect(run.errorMessage).not.toContain(other.id);
      expect(run.errorMessage).not.toContain(s.kek.id);
      expect(await s.db(`${s.prefix}keys`).select("id", "kek_id")).toEqual(keysBefore);

      const keyless = host(keyRotationTask({ columns: [{ table: s.table, column: "secret" }] }), s);
      await expect(keyless.start()).rejects.toMatchObject({ issues: [{ path: "tasks.key-rotation.input.kek" }] });
      const keylessRun = await keyless.run("key-rotation");
      expect(keylessRun.status).toBe("failed");
      expect(keylessRun.errorMessage).toMatch(/no KEK/);
      expect(await s.db(`${s.prefix}keys`).select("id", "kek_id")).toEqual(keysBefore);
    });

    it("a rotation with a wrong KEK writes nothing and names the KEK; the app keeps working and the right KEK then rotates (issue 20)", async () => {
      const s = await setup({ rows: 4 });
      const app = createCrypto({ db: s.db, kek: s.kek, tablePrefix: s.prefix });
      const aad = (id: number) => ({ aad: rowAad(s.table, "secret", id) });
      const keysBefore = await s.db(`${s.prefix}keys`).select("*").orderBy("generation");
      const rowsBefore = await rows(s.db, s.table);
      const wrongKek = localKek(randomBytes(32));
      const columns = [{ table: s.table, column: "secret" }];
      const wrong = host(keyRotationTask({ columns }), { ...s, crypto: { kek: wrongKek } });
      // Forced, then due (the seeded key is 40 days old): both refuse before writing anything.
      for (const input of [{ force: true }, {}]) {
        const run = await wrong.run("key-rotation", { input });
        expect(run.status).toBe("failed");
        expect(run.errorMessage).toContain(`"${s.kek.id}"`);
        expect(run.errorMessage).toContain(`"${wrongKek.id}"`);
        expect(run.errorMessage).not.toContain(s.kekHex);
        expect(await s.db(`${s.prefix}keys`).select("*").orderBy("generation")).toEqual(keysBefore);
        expect(await rows(s.db, s.table)).toEqual(rowsBefore);
        await app.reload();
        const fresh = await app.encrypt("still works", aad(99));
        expect(keyIdOf(fresh)).toBe(s.oldKeyId);
        expect(await app.decrypt(fresh, aad(99))).toBe("still works");
        expect(await app.decrypt(rowsBefore[0]?.secret as string, aad(1))).toBe(s.plaintexts.get(1));
      }
      await expect(wrong.crypto.encrypt("x")).rejects.toMatchObject({ code: "KEK_FAILED" });
      expect(await s.db(`${s.prefix}keys`).select("*").orderBy("generation")).toEqual(keysBefore);

      const right = host(keyRotationTask({ columns }), { ...s, crypto: { kek: s.kek } });
      const run = await right.run("key-rotation");
      expect(run.status).toBe("succeeded");
      expect(resultOf(run)).toMatchObject({ rotated: true, retired: [s.oldKeyId] });
      await app.reload();
      const active = await app.activeKey();
      expect(active).toMatchObject({ id: resultOf(run).activeKeyId, kekId: s.kek.id, generation: 2 });
      for (const row of await rows(s.db, s.table)) {
        expect(keyIdOf(row.secret)).toBe(active?.id);
        expect(await app.decrypt(row.secret as string, aad(row.id))).toBe(s.plaintexts.get(row.id));
      }
      expect(keyIdOf(await app.encrypt("after", aad(99)))).toBe(active?.id);
    });

    it("a new data key is stored only if the configured KEK unwraps what was stored; a provider that cannot is rolled back", async () => {
      const s = await setup({ rows: 1 });
      const other = localKek(randomBytes(32));
      // Same id as the configured KEK, unwraps with it, but wraps with another key (a misconfigured KMS, say).
      const lopsided = { id: s.kek.id, wrap: other.wrap, unwrap: s.kek.unwrap };
      const keysBefore = await s.db(`${s.prefix}keys`).select("*").orderBy("generation");
      const crypto = createCrypto({ db: s.db, kek: lopsided, tablePrefix: s.prefix });
      await expect(crypto.rotate()).rejects.toMatchObject({ code: "KEK_FAILED" });
      expect(await s.db(`${s.prefix}keys`).select("*").orderBy("generation")).toEqual(keysBefore);
      expect((await crypto.activeKey())?.id).toBe(s.oldKeyId);
    });

    it("encrypt never uses a newer key whose KEK it lacks; the task refuses until that KEK is configured and rewrapped", async () => {
      const s = await setup({ rows: 2 });
      const nextKek = localKek(randomBytes(32));
      // A process already on the new KEK (KEK rotation half deployed) adds a key wrapped by it.
      const ahead = createCrypto({ db: s.db, kek: nextKek, previousKeks: [s.kek], tablePrefix: s.prefix });
      const newer = await ahead.rotate();
      expect(newer.kekId).toBe(nextKek.id);
      const behind = createCrypto({ db: s.db, kek: s.kek, tablePrefix: s.prefix });
      const text = await behind.encrypt("from a process on the old KEK");
      expect(keyIdOf(text)).toBe(s.oldKeyId);
      expect(await ahead.decrypt(text)).toBe("from a process on the old KEK");
      expect((await behind.activeKey())?.id).toBe(s.oldKeyId);

      const columns = [{ table: s.table, column: "secret" }];
      const keysBefore = await s.db(`${s.prefix}keys`).select("*").orderBy("generation");
      const stale = host(keyRotationTask({ columns }), { ...s, crypto: { kek: s.kek } });
      const refused = await stale.run("key-rotation", { input: { force: true } });
      expect(refused.status).toBe("failed");
      expect(refused.errorMessage).toContain(`"${nextKek.id}"`);
      expect(await s.db(`${s.prefix}keys`).select("*").orderBy("generation")).toEqual(keysBefore);

      const current = host(keyRotationTask({ columns }), { ...s, crypto: { kek: nextKek, previousKeks: [s.kek] } });
      const run = await current.run("key-rotation");
      expect(run.status).toBe("succeeded");
      expect(resultOf(run)).toMatchObject({ rotated: false, activeKeyId: newer.id, retired: [s.oldKeyId] });
      await rewrapKeys({ db: s.db, kek: nextKek, previousKeks: [s.kek], tablePrefix: s.prefix });
      const done = createCrypto({ db: s.db, kek: nextKek, tablePrefix: s.prefix });
      for (const row of await rows(s.db, s.table)) {
        expect(await done.decrypt(row.secret as string, { aad: rowAad(s.table, "secret", row.id) })).toBe(s.plaintexts.get(row.id));
      }
    });

    it("keeps key material, plaintext and ciphertext out of logs, events, errors and run results", async () => {
      const s = await setup({ rows: 5 });
      const lines: string[] = [];
      const logger = createJsonLogger({ level: "debug", write: (line) => lines.push(line) });
      const fernetKey = generateFernetKey();
      const fernetTable = `totp_${fresh()}`;
      await createTotpTable(s.db, fernetTable);
      const oldFernet = generateFernetKey();
      await s.db(fernetTable).insert({ id: 1, totp_secret: fernet(oldFernet).encrypt("FERNET-PLAINTEXT") });
      await s.db(s.table).where({ id: 3 }).update({ secret: "GARBAGE-VALUE-NOT-ENCRYPTED" });
      const before = await rows(s.db, s.table);
      const task = keyRotationTask({
        kek: s.kek,
        tablePrefix: s.prefix,
        columns: [{ table: s.table, column: "secret" }],
        fernet: [{ table: fernetTable, column: "totp_secret", keys: [fernetKey, oldFernet] }],
      });
      const upkeep = registerTasks(manualAdapter(), { tasks: [task], db: s.db, tablePrefix: s.prefix, logger, clock });
      const events: unknown[] = [];
      upkeep.on("event", (payload) => {
        events.push(payload);
      });
      const runs = [await upkeep.run("key-rotation", { dryRun: true }), await upkeep.run("key-rotation")];
      // A run that fails: the KEK no longer unwraps the keys.
      const broken = registerTasks(manualAdapter(), {
        tasks: [
          keyRotationTask({
            kek: localKek(randomBytes(32)),
            tablePrefix: s.prefix,
            columns: [{ table: s.table, column: "secret" }],
            force: true,
          }),
        ],
        db: s.db,
        tablePrefix: s.prefix,
        logger,
        clock,
      });
      await s.db(s.table).where({ id: 1 }).update({ secret: before[0]?.secret });
      const failed = await broken.run("key-rotation");
      expect(failed.status).toBe("failed");
      expect(failed.errorMessage).toMatch(/not configured/);
      runs.push(failed);
      const wrapped = (await s.db(`${s.prefix}keys`).select("wrapped_key")).map((row) => String(row.wrapped_key));
      const captured = JSON.stringify({ lines, events, runs: runs.map((run) => ({ ...run, result: run.result })) });
      const secrets = [
        s.kekHex,
        Buffer.from(s.kekHex, "hex").toString("base64"),
        fernetKey,
        oldFernet,
        "FERNET-PLAINTEXT",
        "GARBAGE-VALUE-NOT-ENCRYPTED",
        ...s.plaintexts.values(),
        ...before.map((row) => String(row.secret)),
        ...before.map((row) => String(row.secret).split(":")[2] ?? "x".repeat(40)),
        ...(await rows(s.db, s.table)).map((row) => String(row.secret)),
        ...wrapped,
      ];
      expect(lines.length).toBeGreaterThan(3);
      expect(events.length).toBeGreaterThan(0);
      for (const secret of secrets) expect(captured).not.toContain(secret);
    });
  });
}

async function createTotpTable(db: Knex, table: string) {
  await db.schema.createTable(table, (t) => {
    t.increments("id");
    t.string("totp_secret", 512);
  });
}

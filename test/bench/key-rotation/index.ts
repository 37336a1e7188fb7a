// Re-encryption throughput of the key-rotation task against the crypto limit: a plain in-memory
// loop of node:crypto decrypt + encrypt over the same ciphertexts, no database. Envelope
// (AES-256-GCM) columns and Fernet columns, on SQLite and PostgreSQL.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import {
  createCrypto,
  fernet,
  generateFernetKey,
  type KeyRotationResult,
  keyRotationTask,
  localKek,
  manualAdapter,
  registerTasks,
  rowAad,
  silentLogger,
} from "@upkeep/core";
import { createTestDatabase, type Dialect, probeDialects } from "@upkeep/testkit";
import type { Knex } from "knex";
import { bench, timed } from "../lib.ts";

const ROWS = Number(process.env.BENCH_KEY_ROTATION_ROWS ?? 100_000);
const BATCH = 1000;
const result = bench("key-rotation");

/** The crypto limit for envelope rows: parse, GCM-decrypt with the old key, GCM-encrypt with a new one. */
function envelopeBaseline(ciphertexts: string[], ids: number[], table: string, oldKey: Uint8Array, oldId: string): number {
  const newKey = randomBytes(32);
  const newId = randomBytes(8).toString("hex");
  let bytes = 0;
  for (let i = 0; i < ciphertexts.length; i++) {
    const text = ciphertexts[i] as string;
    const sealed = Buffer.from(text.slice(oldId.length + 6), "base64url");
    const aad = `${table}/secret/${ids[i]}`;
    const decipher = createDecipheriv("aes-256-gcm", oldKey, sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from(`upk1:${oldId}:${aad}`));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", newKey, iv);
    cipher.setAAD(Buffer.from(`upk1:${newId}:${aad}`));
    const out = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    bytes += `upk1:${newId}:${out.toString("base64url")}`.length;
  }
  return bytes;
}

/** The crypto limit for Fernet rows: HMAC check, CBC decrypt, CBC encrypt, HMAC, with the timestamp kept. */
function fernetBaseline(tokens: string[], oldKey: string): number {
  const old = Buffer.from(oldKey, "base64url");
  const next = Buffer.from(generateFernetKey(), "base64url");
  let bytes = 0;
  for (const token of tokens) {
    const data = Buffer.from(token, "base64url");
    const body = data.subarray(0, data.length - 32);
    if (!timingSafeEqual(createHmac("sha256", old.subarray(0, 16)).update(body).digest(), data.subarray(data.length - 32)))
      throw new Error("bad");
    const decipher = createDecipheriv("aes-128-cbc", old.subarray(16), data.subarray(9, 25));
    const plain = Buffer.concat([decipher.update(data.subarray(25, data.length - 32)), decipher.final()]);
    const iv = randomBytes(16);
    const cipher = createCipheriv("aes-128-cbc", next.subarray(16), iv);
    const fresh = Buffer.concat([data.subarray(0, 9), iv, cipher.update(plain), cipher.final()]);
    const whole = Buffer.concat([fresh, createHmac("sha256", next.subarray(0, 16)).update(fresh).digest()]);
    bytes += whole.toString("base64").length;
  }
  return bytes;
}

async function insertChunks(db: Knex, table: string, rows: Array<Record<string, unknown>>) {
  for (let i = 0; i < rows.length; i += 500) await db(table).insert(rows.slice(i, i + 500));
}

async function measure(dialect: Dialect) {
  const database = await createTestDatabase(dialect);
  const db = database.knex;
  try {
    const kek = localKek(randomBytes(32));
    const clock = () => new Date();
    const upkeep = registerTasks(manualAdapter(), { tasks: [], db, logger: silentLogger });
    await upkeep.migrate();
    await db.schema.createTable("bench_secrets", (t) => {
      t.increments("id");
      t.text("secret");
    });
    await db.schema.createTable("bench_totp", (t) => {
      t.increments("id");
      t.string("totp_secret", 512);
    });
    const seeder = createCrypto({ db, kek, clock: () => new Date(Date.now() - 40 * 86_400_000) });
    const envelopeRows: Array<{ id: number; secret: string }> = [];
    for (let id = 1; id <= ROWS; id++) {
      envelopeRows.push({
        id,
        secret: await seeder.encrypt(`sk_live_${randomBytes(12).toString("hex")}`, { aad: rowAad("bench_secrets", "secret", id) }),
      });
    }
    await insertChunks(db, "bench_secrets", envelopeRows);
    const [oldFernet, newFernet] = [generateFernetKey(), generateFernetKey()];
    const old = fernet(oldFernet);
    const fernetRows = Array.from({ length: ROWS }, (_, i) => ({ id: i + 1, totp_secret: old.encrypt(randomBytes(20).toString("hex")) }));
    await insertChunks(db, "bench_totp", fernetRows);

    const oldKey = await seeder.activeKey();
    const stored = await db("upkeep_keys").where({ id: oldKey?.id }).first();
    const dek = await kek.unwrap(String(stored.wrapped_key), { keyId: String(oldKey?.id) });

    const base = await timed(() =>
      envelopeBaseline(
        envelopeRows.map((row) => row.secret),
        envelopeRows.map((row) => row.id),
        "bench_secrets",
        dek,
        String(oldKey?.id),
      ),
    );
    const task = keyRotationTask({ kek, columns: [{ table: "bench_secrets", column: "secret" }], batchSize: BATCH });
    const host = registerTasks(manualAdapter(), { tasks: [task], db, logger: silentLogger, clock });
    const ours = await timed(() => host.run("key-rotation"));
    const done = (ours.value.result as KeyRotationResult).columns[0]?.reencrypted;
    if (done !== ROWS) throw new Error(`expected ${ROWS} rows re-encrypted, got ${done} (${ours.value.status})`);
    result.report({ metric: `${dialect}.envelope`, ours: ROWS / (ours.ms / 1000), baseline: ROWS / (base.ms / 1000), unit: "rows/s" });

    const fernetBase = await timed(() =>
      fernetBaseline(
        fernetRows.map((row) => row.totp_secret),
        oldFernet,
      ),
    );
    const fernetTask = keyRotationTask({
      id: "fernet-rotation",
      kek,
      fernet: [{ table: "bench_totp", column: "totp_secret", keys: [newFernet, oldFernet] }],
      batchSize: BATCH,
    });
    const fernetHost = registerTasks(manualAdapter(), { tasks: [fernetTask], db, logger: silentLogger, clock });
    const fernetOurs = await timed(() => fernetHost.run("fernet-rotation"));
    const moved = (fernetOurs.value.result as KeyRotationResult).columns[0]?.reencrypted;
    if (moved !== ROWS) throw new Error(`expected ${ROWS} Fernet rows rotated, got ${moved} (${fernetOurs.value.status})`);
    result.report({
      metric: `${dialect}.fernet`,
      ours: ROWS / (fernetOurs.ms / 1000),
      baseline: ROWS / (fernetBase.ms / 1000),
      unit: "rows/s",
    });
    await Promise.all([upkeep.stop(), host.stop(), fernetHost.stop()]);
  } finally {
    await database.destroy();
  }
}

for (const status of await probeDialects(["sqlite", "postgres"])) {
  if (status.available) await measure(status.dialect);
}
result.write();

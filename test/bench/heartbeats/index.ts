// One heartbeats pass over 100,000 active tokens (10,000 overdue) against the single UPDATE written
// by hand for the dialect, with `RETURNING id` (like for like: the task must report the ids it
// suspended) and without, and against the per-row loop (read each token, then update it).
// With the events outbox (issue 26) the pass also writes one `agent.suspended` row per token in the
// same transaction; `pass-vs-update-and-event-insert` compares it with exactly that written by hand:
// the compare-and-set update and a multi-row insert of the event rows (in chunks of 2,000 rows, the
// most a statement's bindings allow on every dialect), in one transaction, on all three dialects.
// BENCH_ROUNDS sets the rounds (default 9); BENCH_DIALECTS the dialects (default all three).
import { randomUUID } from "node:crypto";
import { heartbeatsTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, type Dialect, probeDialects } from "@upkeep/testkit";
import type { Knex } from "knex";
import { bench, timed } from "../lib.ts";

const TOKENS = 100_000;
const OVERDUE = 10_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const NOW = new Date("2026-03-01T12:00:00.000Z");
const result = bench("heartbeats");

async function seed(db: Knex): Promise<void> {
  await db.schema.createTable("agent_tokens", (t) => {
    t.increments("id");
    t.string("token_hash", 80).notNullable();
    t.string("status", 20).notNullable().index();
    t.integer("heartbeat_required_every").nullable();
    t.timestamp("last_heartbeat_at", { precision: 3 }).nullable();
    t.timestamp("created_at", { precision: 3 }).notNullable();
    t.timestamp("suspended_at", { precision: 3 }).nullable();
    t.string("suspended_reason", 40).nullable();
  });
  const every = OVERDUE > 0 ? Math.round(TOKENS / OVERDUE) : 0;
  const rows = Array.from({ length: TOKENS }, (_, i) => ({
    token_hash: `hash-${i}`,
    status: "ACTIVE",
    heartbeat_required_every: 60,
    last_heartbeat_at: new Date(NOW.getTime() - (i % every === 0 ? 120_000 : 10_000)),
    created_at: new Date(NOW.getTime() - 86_400_000),
  }));
  for (let i = 0; i < rows.length; i += 400) await db("agent_tokens").insert(rows.slice(i, i + 400));
  const client = db.client.config.client;
  await db.raw(client === "pg" ? "analyze agent_tokens" : client === "mysql2" ? "analyze table agent_tokens" : "analyze");
}

/**
 * Reactivates what the measured work suspended, and checks it suspended exactly the overdue tokens.
 * On PostgreSQL it then vacuums the table (untimed), so every measured statement starts from the
 * same table, not one carrying the dead rows of the rounds before it.
 */
async function reset(db: Knex, dialect: Dialect): Promise<void> {
  const changed = await db("agent_tokens")
    .whereNot("status", "ACTIVE")
    .update({ status: "ACTIVE", suspended_at: null, suspended_reason: null });
  if (changed !== OVERDUE) throw new Error(`expected ${OVERDUE} tokens suspended, got ${changed}`);
  const events = await db("upkeep_events").delete();
  // The task and the hand-written baseline write one event row per token; the other baselines none.
  if (events !== 0 && events !== OVERDUE) throw new Error(`expected ${OVERDUE} event rows, got ${events}`);
  if (dialect === "postgres") await db.raw("vacuum agent_tokens, upkeep_events");
}

/** The statement a developer would write by hand for the dialect; `returning` adds `RETURNING id`. */
async function rawUpdate(db: Knex, dialect: Dialect, returning: boolean): Promise<number> {
  const tail = returning ? " returning id" : "";
  if (dialect === "postgres") {
    const result = await db.raw(
      `update agent_tokens set status = 'SUSPENDED', suspended_at = ?::timestamptz, suspended_reason = 'HEARTBEAT_MISSING'
       where status = 'ACTIVE' and heartbeat_required_every is not null
         and coalesce(last_heartbeat_at, created_at) + heartbeat_required_every * interval '1 second' < ?::timestamptz${tail}`,
      [NOW.toISOString(), NOW.toISOString()],
    );
    return returning ? result.rows.length : result.rowCount;
  }
  const result = await db.raw(
    `update agent_tokens set status = 'SUSPENDED', suspended_at = ?, suspended_reason = 'HEARTBEAT_MISSING'
     where status = 'ACTIVE' and heartbeat_required_every is not null
       and coalesce(last_heartbeat_at, created_at) + heartbeat_required_every * 1000 < ?${tail}`,
    [NOW.getTime(), NOW.getTime()],
  );
  return returning ? result.length : result.changes;
}

const EVENT_COLUMNS = [
  "id",
  "task",
  "run_id",
  "type",
  "severity",
  "security",
  "data",
  "created_at",
  "state",
  "lease_owner",
  "lease_until",
  "attempts",
  "delivered_at",
];

/**
 * Written by hand: the compare-and-set update that returns the suspended tokens (on MariaDB, which
 * has no UPDATE ... RETURNING, the overdue ids locked FOR UPDATE, then updated by id with the
 * condition repeated) and a multi-row insert of one event row per token, in one transaction.
 */
async function updateAndInsertEvents(db: Knex, dialect: Dialect): Promise<number> {
  return db.transaction(async (trx) => {
    let rows: Array<{ id: number; last_heartbeat_at: unknown }>;
    if (dialect === "postgres") {
      rows = (
        await trx.raw(
          `update agent_tokens set status = 'SUSPENDED', suspended_at = ?::timestamptz, suspended_reason = 'HEARTBEAT_MISSING'
           where status = 'ACTIVE' and heartbeat_required_every is not null
             and coalesce(last_heartbeat_at, created_at) + heartbeat_required_every * interval '1 second' < ?::timestamptz
           returning id, last_heartbeat_at`,
          [NOW.toISOString(), NOW.toISOString()],
        )
      ).rows;
    } else if (dialect === "mariadb") {
      const overdue =
        "status = 'ACTIVE' and heartbeat_required_every is not null and timestampadd(second, heartbeat_required_every, coalesce(last_heartbeat_at, created_at)) < ?";
      rows = (await trx.raw(`select id, last_heartbeat_at from agent_tokens where ${overdue} for update`, [NOW]))[0];
      const ids = rows.map((row) => row.id);
      await trx.raw(
        `update agent_tokens set status = 'SUSPENDED', suspended_at = ?, suspended_reason = 'HEARTBEAT_MISSING' where id in (${ids.map(() => "?").join(", ")}) and ${overdue}`,
        [NOW, ...ids, NOW],
      );
    } else {
      rows = await trx.raw(
        `update agent_tokens set status = 'SUSPENDED', suspended_at = ?, suspended_reason = 'HEARTBEAT_MISSING'
         where status = 'ACTIVE' and heartbeat_required_every is not null
           and coalesce(last_heartbeat_at, created_at) + heartbeat_required_every * 1000 < ?
         returning id, last_heartbeat_at`,
        [NOW.getTime(), NOW.getTime()],
      );
    }
    const runId = randomUUID();
    const created = NOW.getTime();
    const values = rows.map((row) => [
      randomUUID().slice(0, 26),
      "heartbeats",
      runId,
      "agent.suspended",
      "warning",
      dialect === "sqlite" ? 1 : true,
      JSON.stringify({
        tokenId: row.id,
        reason: "HEARTBEAT_MISSING",
        lastHeartbeatAt: row.last_heartbeat_at === null ? null : new Date(row.last_heartbeat_at as string).toISOString(),
      }),
      created,
      "pending",
      "bench",
      created + 30_000,
      1,
      null,
    ]);
    const tuple = `(${EVENT_COLUMNS.map(() => "?").join(", ")})`;
    for (let i = 0; i < values.length; i += 2000) {
      const chunk = values.slice(i, i + 2000);
      await trx.raw(`insert into upkeep_events (${EVENT_COLUMNS.join(", ")}) values ${chunk.map(() => tuple).join(", ")}`, chunk.flat());
    }
    return rows.length;
  });
}

/** The origin's loop: read every active token needing heartbeats, decide in code, update each overdue one. */
async function perRowLoop(db: Knex): Promise<number> {
  const tokens = await db("agent_tokens")
    .where("status", "ACTIVE")
    .whereNotNull("heartbeat_required_every")
    .select("id", "heartbeat_required_every", "last_heartbeat_at", "created_at");
  let suspended = 0;
  for (const token of tokens) {
    const base = new Date(token.last_heartbeat_at ?? token.created_at).getTime();
    if (NOW.getTime() > base + Number(token.heartbeat_required_every) * 1000) {
      await db("agent_tokens")
        .where("id", token.id)
        .update({ status: "SUSPENDED", suspended_at: NOW, suspended_reason: "HEARTBEAT_MISSING" });
      suspended++;
    }
  }
  return suspended;
}

let tick = 0;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/** Median wall time of each piece of work, run in turns (a, b, a, b, ...) so machine load hits all alike. */
async function measure(db: Knex, dialect: Dialect, works: Array<() => Promise<unknown>>, rounds = ROUNDS): Promise<number[]> {
  const times = works.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    for (const [index, work] of works.entries()) {
      times[index]?.push((await timed(work)).ms);
      await reset(db, dialect);
    }
  }
  return times.map(median);
}

// BENCH_DIALECTS (comma-separated) measures only those, such as `sqlite`.
const wanted = (process.env.BENCH_DIALECTS ?? "postgres,mariadb,sqlite").split(",");
for (const dialect of (["postgres", "mariadb", "sqlite"] as const).filter((name) => wanted.includes(name))) {
  const [status] = await probeDialects([dialect]);
  if (!status?.available) {
    console.log(`# ${dialect} unavailable, skipped`);
    continue;
  }
  const database = await createTestDatabase(dialect);
  try {
    const db = database.knex;
    await seed(db);
    const upkeep = registerTasks(manualAdapter(), {
      tasks: [heartbeatsTask()],
      db,
      // The default store: the outbox is <prefix>events in this database, written in the pass's transaction.
      logger: silentLogger,
      // Each manual run claims its own moment; a millisecond apart changes no token's verdict.
      clock: () => new Date(NOW.getTime() + tick++),
    });
    await upkeep.migrate();
    const pass = () => upkeep.run("heartbeats");
    const withEvents = () => updateAndInsertEvents(db, dialect);
    if (dialect === "mariadb") {
      // The raw single UPDATE and the loop below are written for PostgreSQL and SQLite only.
      for (const work of [pass, withEvents]) {
        await work();
        await reset(db, dialect);
      }
      const [ours, baseline] = (await measure(db, dialect, [pass, withEvents])) as [number, number];
      result.report({ metric: `${dialect}.pass-vs-update-and-event-insert`, ours, baseline, unit: "ms" });
      await upkeep.stop();
      continue;
    }
    const returning = () => rawUpdate(db, dialect, true);
    const bare = () => rawUpdate(db, dialect, false);
    for (const work of [pass, withEvents, returning, bare]) {
      await work(); // warm-up: connections, plans, caches
      await reset(db, dialect);
    }
    const [ours, baseline, rawReturning, raw] = (await measure(db, dialect, [pass, withEvents, returning, bare])) as [
      number,
      number,
      number,
      number,
    ];
    result.report({ metric: `${dialect}.pass-vs-update-and-event-insert`, ours, baseline, unit: "ms" });
    const [loop] = (await measure(db, dialect, [() => perRowLoop(db)], 1)) as [number];
    // Like for like: the task returns the ids it suspended from the same statement, so the hand-written
    // equivalent is the UPDATE ... RETURNING id. The bare UPDATE (no ids back) is reported beside it.
    result.report({ metric: `${dialect}.pass-vs-raw-update-returning`, ours, baseline: rawReturning, unit: "ms" });
    result.report({ metric: `${dialect}.pass-vs-raw-update`, ours, baseline: raw, unit: "ms" });
    result.report({ metric: `${dialect}.pass-vs-per-row-loop`, ours, baseline: loop, unit: "ms" });
    await upkeep.stop();
  } finally {
    await database.destroy();
  }
}
result.write();

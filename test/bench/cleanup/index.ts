// cleanup benchmark: a table of CLEANUP_BENCH_ROWS rows (default 1,000,000), half expired, on each
// dialect in CLEANUP_BENCH_DIALECTS (default postgres,mariadb,sqlite). Three ways to remove the
// expired half, each on a freshly seeded table: one raw DELETE (the database's own limit), a naive
// `DELETE ... LIMIT 1000` loop (Laravel's mass pruning), and the cleanup task. While each runs, a
// child process inserts single rows into the same table and records the worst wait. On MariaDB a
// fourth method runs cleanup with InnoDB's purge held off, to show what purge costs it (see
// purgeHeld). The methods run in CLEANUP_BENCH_ROUNDS rounds (default 5: single runs on a shared
// machine vary by a third), in a rotated order each round so none always runs first or last, and
// every figure is the median over rounds.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cleanupTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, type Dialect, probeDialects } from "@upkeep/testkit";
import type { Knex } from "knex";
import { bench, peakRssGrowthMb, timed } from "../lib.ts";

const ROWS = Number(process.env.CLEANUP_BENCH_ROWS ?? 1_000_000);
const DIALECTS = (process.env.CLEANUP_BENCH_DIALECTS ?? "postgres,mariadb,sqlite").split(",") as Dialect[];
const ROUNDS = Math.max(1, Number(process.env.CLEANUP_BENCH_ROUNDS ?? 5));
const BATCH = 1000;
const WRITER_SETTLE_MS = 500;
const TABLE = "bench_events";
const DAY = 86_400_000;
const NOW = new Date();
const CUTOFF = new Date(NOW.getTime() - 30 * DAY);
const OLD = NOW.getTime() - 60 * DAY;
const FRESH = NOW.getTime() - DAY;
const EXPIRED = Math.floor(ROWS / 2);

async function seed(db: Knex, dialect: Dialect): Promise<void> {
  await db.schema.dropTableIfExists(TABLE);
  await db.schema.createTable(TABLE, (table) => {
    table.bigIncrements("id");
    table.datetime("created_at", { precision: 3 }).notNullable().index();
    table.string("payload", 100).notNullable();
  });
  const half = EXPIRED;
  if (dialect === "postgres") {
    await db.raw(
      `insert into ${TABLE} (created_at, payload)
       select to_timestamp((case when g <= ?::int then ?::bigint else ?::bigint end + g) / 1000.0), 'event payload ' || g || ' with some filler text to be realistic'
       from generate_series(1, ?::int) g`,
      [half, OLD, FRESH, ROWS],
    );
    await db.raw(`vacuum analyze ${TABLE}`);
    // Every method then starts past a checkpoint, as a real cleanup does (expired rows were last
    // written long before the latest one): each pays the same full-page images on first touch,
    // instead of whichever method a checkpoint happened to start before.
    await db.raw("checkpoint");
  } else if (dialect === "mariadb") {
    await db.raw(
      `insert into ${TABLE} (created_at, payload)
       select from_unixtime((case when seq <= ? then ? else ? end + seq) / 1000), concat('event payload ', seq, ' with some filler text to be realistic')
       from seq_1_to_${ROWS}`,
      [half, OLD, FRESH],
    );
    await db.raw(`analyze table ${TABLE}`);
  } else {
    await db.raw(
      `with recursive seq(g) as (select 1 union all select g + 1 from seq where g < ?)
       insert into ${TABLE} (created_at, payload)
       select (case when g <= ? then ? else ? end) + g, 'event payload ' || g || ' with some filler text to be realistic' from seq`,
      [ROWS, half, OLD, FRESH],
    );
    await db.raw("analyze");
  }
}

/** Times every DELETE statement the knex instance sends (each one its own transaction here). */
function statementTimer(db: Knex) {
  const started = new Map<string, number>();
  const durations: number[] = [];
  const onQuery = (query: { __knexQueryUid: string; sql: string }) => {
    // A PostgreSQL batch is `with upkeep_async_commit as (...) delete ...`.
    if (/^\s*(with "upkeep_async_commit" as \(.*?\)\s*)?delete\b/is.test(query.sql)) started.set(query.__knexQueryUid, performance.now());
  };
  const onResponse = (_response: unknown, query: { __knexQueryUid: string }) => {
    const start = started.get(query.__knexQueryUid);
    if (start === undefined) return;
    started.delete(query.__knexQueryUid);
    durations.push(performance.now() - start);
  };
  db.on("query", onQuery).on("query-response", onResponse);
  return {
    durations,
    stop() {
      db.removeListener("query", onQuery).removeListener("query-response", onResponse);
    },
  };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function startInserter(dialect: Dialect, target: string) {
  const child = spawn(
    process.execPath,
    ["--conditions=dev-source", "--import", "tsx", fileURLToPath(new URL("inserter.ts", import.meta.url)), dialect, target, TABLE],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (output.includes("ready")) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
    child.once("exit", (code) => {
      clearInterval(poll);
      reject(new Error(`inserter exited with ${code}`));
    });
  });
  // Let the writer settle into its steady rate before the method is timed: otherwise the method's
  // first statements shared the CPUs with the writer process's startup (one traced PostgreSQL run
  // spent 35 ms in its first, 2 ms statement).
  await new Promise((resolve) => setTimeout(resolve, WRITER_SETTLE_MS));
  return async (): Promise<{ worst: number; count: number; errors: number }> => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.stdin.end();
    await exited;
    return JSON.parse(output.slice(output.indexOf("ready") + 5).trim());
  };
}

/**
 * MariaDB/InnoDB only marks deleted rows; a purge thread removes them once the deleting transaction
 * has committed. One raw DELETE commits at its very end, so all of its purge runs after the timed
 * statement; batches commit as they go, so most of theirs runs during the timed run, on the same
 * CPUs. Waiting until the history list is empty gives a figure that counts the same work for both:
 * the ms this took after the method returned.
 */
async function purged(db: Knex): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 60_000) {
    const [rows] = await db.raw("select `count` as n from information_schema.innodb_metrics where name = 'trx_rseg_history_len'");
    if (Number(rows[0]?.n ?? 0) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return performance.now() - started;
}

interface Measured {
  ms: number;
  deleted: number;
  p99: number;
  longest: number;
  statements: number;
  worstInsert: number;
  inserts: number;
  rssMb: number;
  /** MariaDB: ms from the start until InnoDB has purged what the method deleted (see `purged`). */
  settledMs: number;
}

/** A method to time: `prepare` does its untimed setup and returns the timed work and a teardown. */
type Method = () => Promise<{ work: () => Promise<number>; teardown?: () => Promise<void> }>;

async function measure(db: Knex, dialect: Dialect, target: string, method: Method): Promise<Measured> {
  await seed(db, dialect);
  const { work, teardown } = await method();
  const stopInserter = await startInserter(dialect, target);
  const timer = statementTimer(db);
  const { mb, value } = await peakRssGrowthMb(() => timed(work));
  timer.stop();
  const inserter = await stopInserter();
  const purgeMs = dialect === "mariadb" ? await purged(db) : 0;
  await teardown?.();
  if (inserter.errors > 0) console.log(`  (${inserter.errors} concurrent inserts failed while waiting)`);
  return {
    ms: value.ms,
    deleted: value.value,
    p99: percentile(timer.durations, 99),
    longest: Math.max(0, ...timer.durations),
    statements: timer.durations.length,
    worstInsert: inserter.worst,
    inserts: inserter.count,
    rssMb: mb,
    settledMs: value.ms + purgeMs,
  };
}

const raw =
  (db: Knex): Method =>
  async () => ({ work: async () => db(TABLE).where("created_at", "<", CUTOFF).del() });

const naive =
  (db: Knex, dialect: Dialect): Method =>
  async () => ({
    work: async () => {
      let total = 0;
      for (;;) {
        const expired = db(TABLE).where("created_at", "<", CUTOFF);
        const removed =
          dialect === "mariadb" ? await expired.limit(BATCH).del() : await db(TABLE).whereIn("id", expired.select("id").limit(BATCH)).del();
        total += removed;
        if (removed < BATCH) return total;
      }
    },
  });

// Registration and migration are setup, not deletion: only the run itself is timed (including the
// per-policy schema check every run makes).
const ours =
  (db: Knex): Method =>
  async () => {
    const upkeep = registerTasks(manualAdapter(), {
      db,
      logger: silentLogger,
      clock: () => NOW,
      tasks: [cleanupTask({ batchSize: BATCH, policies: [{ table: TABLE, column: "created_at", olderThan: "30d" }] })],
    });
    await upkeep.migrate();
    return {
      work: async () => {
        const run = await upkeep.run("cleanup");
        const result = run.result as { totals: { deleted: number } } | null;
        if (run.status !== "succeeded" || !result) throw new Error(`cleanup run ${run.status}: ${run.errorMessage}`);
        return result.totals.deleted;
      },
      teardown: () => upkeep.stop(),
    };
  };

/**
 * MariaDB diagnostic, never done by the task: a read view held open on another connection from
 * before the method starts until its work returns, so InnoDB cannot purge what the method deletes
 * meanwhile. cleanup then pays only for its deletes, as the raw statement does for its own (whose
 * purge cannot start before it commits anyway): the difference between this figure and the plain
 * one is the purge that lands inside cleanup's run.
 */
const purgeHeld =
  (db: Knex, inner: Method): Method =>
  async () => {
    const { work, teardown } = await inner();
    const view = await db.transaction();
    await view.raw(`select count(*) from ${TABLE} where id = 1`);
    return {
      work: async () => {
        try {
          return await work();
        } finally {
          await view.commit();
        }
      },
      teardown,
    };
  };

const median = (values: number[]) => percentile(values, 50);

/** The median of each figure over the rounds (peak RSS: the largest). */
function summarise(rounds: Measured[]): Measured {
  const of = (key: keyof Measured) => median(rounds.map((m) => m[key]));
  return {
    ms: of("ms"),
    deleted: of("deleted"),
    p99: of("p99"),
    longest: of("longest"),
    statements: of("statements"),
    worstInsert: of("worstInsert"),
    inserts: of("inserts"),
    rssMb: Math.max(...rounds.map((m) => m.rssMb)),
    settledMs: of("settledMs"),
  };
}

const report = bench("cleanup");
console.log(`rows=${ROWS} expired=${EXPIRED} batch=${BATCH} rounds=${ROUNDS}`);
for (const { dialect, available } of await probeDialects(DIALECTS)) {
  if (!available) continue;
  const database = await createTestDatabase(dialect);
  const db = database.knex;
  try {
    // Create upkeep's own tables first, so the run's migration is not timed.
    await registerTasks(manualAdapter(), { db, logger: silentLogger, tasks: [] }).migrate();
    const methods: [string, Method][] = [
      ["raw", raw(db)],
      ["naive", naive(db, dialect)],
      ["cleanup", ours(db)],
    ];
    if (dialect === "mariadb") methods.push(["held", purgeHeld(db, ours(db))]);
    const measured = new Map<string, Measured[]>(methods.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < methods.length; i++) {
        const [name, method] = methods[(i + round) % methods.length] as [string, Method];
        const m = await measure(db, dialect, database.target, method);
        console.log(
          `  ${dialect} #${round + 1} ${name.padEnd(7)} deleted=${m.deleted} in ${Math.round(m.ms)} ms, ${m.statements} statements, p99 ${m.p99.toFixed(1)} ms, longest ${m.longest.toFixed(1)} ms, worst insert ${m.worstInsert.toFixed(1)} ms over ${m.inserts} inserts, rss +${m.rssMb.toFixed(1)} MB${dialect === "mariadb" ? `, purged at ${Math.round(m.settledMs)} ms` : ""}`,
        );
        if (m.deleted !== EXPIRED) throw new Error(`${dialect} ${name} deleted ${m.deleted}, expected ${EXPIRED}`);
        measured.get(name)?.push(m);
      }
    }
    const [baseline, loop, mine, held] = methods.map(([name]) => summarise(measured.get(name) ?? [])) as [
      Measured,
      Measured,
      Measured,
      Measured?,
    ];
    console.log(
      `  ${dialect} medians: raw ${Math.round(baseline.ms)} ms, naive ${Math.round(loop.ms)} ms, cleanup ${Math.round(mine.ms)} ms (p99 ${mine.p99.toFixed(1)} ms)`,
    );
    const rate = (m: Measured) => m.deleted / (m.ms / 1000);
    report.report({ metric: `${dialect}.throughput-vs-raw-delete`, ours: rate(mine), baseline: rate(baseline), unit: "rows/s" });
    if (dialect === "mariadb") {
      const settled = (m: Measured) => m.deleted / (m.settledMs / 1000);
      console.log(
        `  mariadb medians until purged: raw ${Math.round(baseline.settledMs)} ms, naive ${Math.round(loop.settledMs)} ms, cleanup ${Math.round(mine.settledMs)} ms`,
      );
      report.report({
        metric: "mariadb.throughput-vs-raw-delete-until-purged",
        ours: settled(mine),
        baseline: settled(baseline),
        unit: "rows/s",
      });
      if (held) {
        console.log(`  mariadb median with purge held: cleanup ${Math.round(held.ms)} ms (p99 ${held.p99.toFixed(1)} ms)`);
        report.report({
          metric: "mariadb.throughput-vs-raw-delete-purge-held",
          ours: rate(held),
          baseline: rate(baseline),
          unit: "rows/s",
        });
      }
    }
    report.report({ metric: `${dialect}.throughput-vs-naive-limit-loop`, ours: rate(mine), baseline: rate(loop), unit: "rows/s" });
    report.report({ metric: `${dialect}.longest-transaction-p99`, ours: mine.p99, baseline: baseline.longest, unit: "ms" });
    report.report({ metric: `${dialect}.worst-concurrent-insert`, ours: mine.worstInsert, baseline: baseline.worstInsert, unit: "ms" });
    report.report({ metric: `${dialect}.peak-rss-growth`, ours: mine.rssMb, baseline: baseline.rssMb, unit: "MB" });
  } finally {
    await database.destroy();
  }
}
report.write();

import type { Knex } from "knex";
import { dbFailureHint, dialectOf, retryDeadlocks, type SqlDialect, unionEach } from "../db.ts";
import { UpkeepError } from "../errors.ts";
import { knexEvents } from "./knex-events.ts";
import { knexTaskState } from "./knex-task-state.ts";
import { migrate, pendingMigrations } from "./migrate.ts";
import { sqliteStatements } from "./sqlite-statements.ts";
import {
  ABANDONED_REASON,
  type ClaimOptions,
  type ClaimResult,
  claimKey,
  type NewRun,
  newRecord,
  OVERLAP_REASON,
  type RunOutcome,
  type RunQuery,
  type RunRecord,
  type RunStatus,
  type RunStore,
  skippedRecord,
} from "./types.ts";

/** Options of `knexStore`: the run store on the host's knex database. */
export interface KnexStoreOptions {
  /**
   * Prefix of every upkeep table name.
   * @default "upkeep_"
   */
  tablePrefix?: string;
}

type Row = Record<string, unknown>;

const num = (value: unknown): number => (typeof value === "number" ? value : Number(value));
const time = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(num(value)));

/** A row of `<prefix>runs` as a `RunRecord` (times as `Date`s, the result parsed), for readers of the table. */
export function runFromRow(row: Row): RunRecord {
  return {
    id: String(row.id),
    taskId: String(row.task_id),
    scheduledFor: time(row.scheduled_for) as Date,
    trigger: row.trigger as RunRecord["trigger"],
    status: row.status as RunStatus,
    attempt: num(row.attempt),
    dryRun: Boolean(row.dry_run),
    claimedAt: time(row.claimed_at) as Date,
    finishedAt: time(row.finished_at),
    leaseUntil: time(row.lease_until),
    durationMs: row.duration_ms === null || row.duration_ms === undefined ? null : num(row.duration_ms),
    result: typeof row.result === "string" ? JSON.parse(row.result) : null,
    reason: (row.reason as string | null) ?? null,
    errorMessage: (row.error_message as string | null) ?? null,
    errorStack: (row.error_stack as string | null) ?? null,
    host: String(row.host),
    pid: num(row.pid),
  };
}

const COLUMNS = [
  "id",
  "task_id",
  "claim_key",
  "scheduled_for",
  "trigger",
  "status",
  "attempt",
  "dry_run",
  "claimed_at",
  "finished_at",
  "lease_until",
  "reason",
  "host",
  "pid",
];

/**
 * The claim as one statement: insert the run unless its tick is taken, recorded `running`, or
 * `skipped` when `busy` finds a run of the task with a live lease. The statement is atomic
 * on each dialect: SQLite has one writer; PostgreSQL serialises the claims of one task with a
 * transaction-scoped advisory lock taken in the statement (a claim that finds it held is a
 * concurrent claim of the task, so it skips); on InnoDB the check is a locking read (`for update`)
 * of the task's running runs, so a claim waits for a concurrent one and sees its row (one of two
 * may be told to retry: a deadlock).
 * A lost tick returns no row (PostgreSQL, SQLite) or the existing row (MariaDB/MySQL, where
 * `returning` gives the row the duplicate key hit).
 */
function claimSql(dialect: SqlDialect, overlap: boolean, pausable: boolean): string {
  const pg = dialect === "postgres";
  const bigint = pg ? "::bigint" : "";
  // On InnoDB a locking read: it waits for a concurrent claim of the task and reads its row.
  const live = `select 1 from ?? r where r.task_id = ? and r.status = 'running' and r.lease_until >= ?${bigint} and r.claimed_at <= ?${bigint}${
    dialect === "mysql" ? " for update" : ""
  }`;
  const lock = pg ? "not pg_try_advisory_xact_lock(hashtext(?), hashtext(?)) or " : "";
  const busy = overlap ? `${lock}exists (${live})` : "false";
  const select = `select ?, ?, ?, ?${bigint}, ?, case when o.busy then 'skipped' else 'running' end, 1, ?${pg ? "::boolean" : ""},
      ?${bigint}, case when o.busy then ?${bigint} end, case when o.busy then null else ?${bigint} end,
      case when o.busy then ? end, ?, ?${pg ? "::integer" : ""}
    from (select ${busy} as busy) o`;
  // A scheduled or catch-up tick of a paused task inserts nothing. SQLite needs a where clause
  // anyway, to read `on conflict` as the upsert clause of an insert ... select.
  const where = pausable
    ? " where not exists (select 1 from ?? s where s.task_id = ? and s.paused)"
    : dialect === "sqlite"
      ? " where true"
      : "";
  const insert = `insert into ?? (??) ${select}${where}`;
  if (dialect === "mysql") return `${insert} on duplicate key update ?? = ?? returning *`;
  return `${insert} on conflict (task_id, claim_key) do nothing returning status`;
}

/** The claim statements, made once per store for each shape (dialect fixed; overlap; pausable). */
function claimStatements(dialect: SqlDialect): (overlap: boolean, pausable: boolean) => string {
  const made = new Map<number, string>();
  return (overlap, pausable) => {
    const key = (overlap ? 1 : 0) + (pausable ? 2 : 0);
    let sql = made.get(key);
    if (sql === undefined) {
      sql = claimSql(dialect, overlap, pausable);
      made.set(key, sql);
    }
    return sql;
  };
}

function claimBindings(dialect: SqlDialect, prefix: string, run: NewRun, overlap: boolean, pausable: boolean): Knex.RawBinding[] {
  const table = `${prefix}runs`;
  const claimed = run.claimedAt.getTime();
  const busy: Knex.RawBinding[] = overlap
    ? [...(dialect === "postgres" ? [table, run.taskId] : []), table, run.taskId, claimed, run.leaseUntil.getTime()]
    : [];
  const values = [run.id, run.taskId, claimKey(run), run.scheduledFor.getTime(), run.trigger, run.dryRun, claimed, claimed];
  const tail = [run.leaseUntil.getTime(), OVERLAP_REASON, run.host, run.pid];
  const paused = pausable ? [`${prefix}task_state`, run.taskId] : [];
  return [table, COLUMNS, ...values, ...tail, ...busy, ...paused, ...(dialect === "mysql" ? [`${table}.id`, `${table}.id`] : [])];
}

/** The finish: a compare-and-set on `running`, one raw statement (no query builder on the hot path). */
const FINISH_SQL =
  "update ?? set status = ?, finished_at = ?, attempt = ?, duration_ms = ?, result = ?, reason = ?, error_message = ?, error_stack = ?, lease_until = null where id = ? and status = 'running'";

/** The rows a raw statement with `returning` gave, whatever the driver's result shape. */
function returnedRows(result: unknown, dialect: SqlDialect): Row[] {
  if (dialect === "postgres") return (result as { rows: Row[] }).rows;
  if (dialect === "mysql") return (result as [Row[]])[0];
  return result as Row[];
}

/** How many rows a raw `update` changed, whatever the driver's result shape. */
function changedRows(result: unknown, dialect: Exclude<SqlDialect, "sqlite">): number {
  if (dialect === "postgres") return (result as { rowCount: number | null }).rowCount ?? 0;
  return num((result as [{ affectedRows: number }])[0].affectedRows);
}

/** Whether a driver error is a unique-key violation, on PostgreSQL, MySQL/MariaDB or SQLite. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  return (
    code === "23505" ||
    code === "ER_DUP_ENTRY" ||
    errno === 1062 ||
    code === "SQLITE_CONSTRAINT_UNIQUE" ||
    code === "SQLITE_CONSTRAINT_PRIMARYKEY"
  );
}

/**
 * Deletes the rows `where` picks, by id, `batchSize` at a time (each batch its own short
 * statement); returns how many went.
 */
export async function deleteInBatches(
  db: Knex,
  table: string,
  where: (query: Knex.QueryBuilder) => Knex.QueryBuilder,
  batchSize: number,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const rows = (await where(db(table).select("id")).limit(batchSize)) as Row[];
    if (rows.length === 0) return removed;
    removed += num(
      await db(table)
        .whereIn(
          "id",
          rows.map((row) => String(row.id)),
        )
        .delete(),
    );
    if (rows.length < batchSize) return removed;
  }
}

/** SQLite allows 500 members in a compound select; health reads this many tasks per statement. */
const HEALTH_CHUNK = 100;

/** The runs that count as a task's ticks for health: scheduled or catch-up, not dry runs. */
const tickRunsOf = (db: Knex, table: string, taskId: string) =>
  db(table).where({ task_id: taskId, dry_run: false }).whereIn("trigger", ["schedule", "catch-up"]);

/**
 * Health's read of each task's latest `limit` tick runs: one statement, a backward range of the
 * `(task_id, scheduled_for)` index (migration 0008) per task, whatever the size of the history.
 * One tick run per (task, tick): the claim key is unique, so the tick alone orders them.
 */
export function recentTickRunsQuery(db: Knex, table: string, taskIds: readonly string[], limit: number): Knex.QueryBuilder {
  return unionEach(db, taskIds, (taskId) => tickRunsOf(db, table, taskId).orderBy("scheduled_for", "desc").limit(limit));
}

/** Each task's newest run of any kind: one statement, the top of the `(task_id, claimed_at, id)` index (0015) per task. */
export function latestRunsQuery(db: Knex, table: string, taskIds: readonly string[]): Knex.QueryBuilder {
  return unionEach(db, taskIds, (taskId) =>
    db(table)
      .where({ task_id: taskId })
      .orderBy([
        { column: "claimed_at", order: "desc" },
        { column: "id", order: "desc" },
      ])
      .limit(1),
  );
}

/** Each task's latest succeeded tick run, for the tasks whose recent runs hold none: one statement. */
export function lastSucceededQuery(db: Knex, table: string, taskIds: readonly string[]): Knex.QueryBuilder {
  return unionEach(db, taskIds, (taskId) =>
    tickRunsOf(db, table, taskId).where({ status: "succeeded" }).orderBy("scheduled_for", "desc").limit(1),
  );
}

/**
 * Run history in the host's database through its knex instance: PostgreSQL, MySQL/MariaDB or
 * SQLite. The unique `(task_id, claim_key)` key makes `claim` atomic across every process that
 * shares the database. Times are stored as epoch milliseconds.
 */
export function knexStore(db: Knex, options: KnexStoreOptions = {}): RunStore {
  const prefix = options.tablePrefix ?? "upkeep_";
  const table = `${prefix}runs`;
  const runs = () => db(table);
  const dialect = dialectOf(db);
  const claimStatement = claimStatements(dialect);
  // better-sqlite3: the claim and the finish run on statements prepared once per connection.
  const hot = sqliteStatements(db);

  const wrap = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof UpkeepError) throw error;
      throw new UpkeepError("STORE_FAILED", `run store: ${what} failed${dbFailureHint(error)}`, { cause: error });
    }
  };

  /** Reads for many tasks (health, the task list): one statement per `HEALTH_CHUNK` of them, each row under its task. */
  const perTask = async (taskIds: readonly string[], query: (chunk: readonly string[]) => Knex.QueryBuilder) => {
    const byTask = new Map<string, RunRecord[]>();
    for (let start = 0; start < taskIds.length; start += HEALTH_CHUNK) {
      const rows = (await query(taskIds.slice(start, start + HEALTH_CHUNK))) as Row[];
      for (const record of rows.map(runFromRow)) byTask.set(record.taskId, [...(byTask.get(record.taskId) ?? []), record]);
    }
    // UNION ALL keeps no order across its members: latest tick first again.
    for (const list of byTask.values()) list.sort((a, b) => b.scheduledFor.getTime() - a.scheduledFor.getTime());
    return byTask;
  };

  const taskState = knexTaskState(db, prefix, wrap);

  const get = async (runId: string) => {
    const row = (await runs().where({ id: runId }).first()) as Row | undefined;
    return row && runFromRow(row);
  };

  return {
    name: `knex:${String(db.client.config.client)}`,
    async migrate() {
      await wrap("migrate", () => migrate(db, prefix));
    },
    pendingMigrations: () => wrap("migration check", () => pendingMigrations(db, prefix)),
    claim: (run: NewRun, claimOptions: ClaimOptions = {}) =>
      wrap("claim", async (): Promise<ClaimResult> => {
        const overlap = claimOptions.overlap === "skip";
        const pausable = run.trigger !== "manual";
        const sql = claimStatement(overlap, pausable);
        const bindings = claimBindings(dialect, prefix, run, overlap, pausable);
        // InnoDB picks one of two racing claims of a task as a deadlock victim: claim again.
        const rows = await retryDeadlocks(async () =>
          hot ? ((await hot(sql, bindings)).rows ?? []) : returnedRows(await db.raw(sql, bindings), dialect),
        );
        const [row] = rows;
        if (row && (dialect !== "mysql" || String(row.id) === run.id)) {
          return { claimed: true, run: row.status === "skipped" ? skippedRecord(run) : newRecord(run) };
        }
        if (row) return { claimed: false, existing: runFromRow(row) };
        const existing = (await runs()
          .where({ task_id: run.taskId, claim_key: claimKey(run) })
          .first()) as Row | undefined;
        if (pausable) {
          // Nothing inserted: a paused task's tick reports the pause, even when an earlier run
          // (before the pause) holds the tick, as a paused task's tick does nothing at all.
          const state = await taskState.taskState(run.taskId);
          if (state?.paused) return { claimed: false, existing: undefined, paused: { reason: state.pausedReason } };
        }
        return { claimed: false, existing: existing && runFromRow(existing) };
      }),
    abandonExpired: (now, limit) =>
      wrap("abandoned-run sweep", async () => {
        const expired = (q: Knex.QueryBuilder) => q.where({ status: "running" }).where("lease_until", "<", now.getTime());
        const marked = { status: "abandoned", finished_at: now.getTime(), lease_until: null, reason: ABANDONED_REASON };
        // One bounded statement; the status and lease conditions make it a compare-and-set, so a
        // run that renewed or finished meanwhile keeps its state.
        if (dialect === "mysql") return num(await expired(runs()).limit(limit).update(marked));
        return num(await expired(runs().whereIn("id", expired(db(table).select("id")).limit(limit))).update(marked));
      }),
    renewLease: (runId, leaseUntil) =>
      wrap("lease renewal", async () => {
        const changed = await runs().where({ id: runId, status: "running" }).update({ lease_until: leaseUntil.getTime() });
        return num(changed) > 0;
      }),
    setAttempt: (runId, attempt) =>
      wrap("attempt update", async () => {
        await runs().where({ id: runId }).update({ attempt });
      }),
    finish: (runId, outcome: RunOutcome) =>
      wrap("finish", async () => {
        const bindings = [
          table,
          outcome.status,
          outcome.finishedAt.getTime(),
          outcome.attempt,
          outcome.durationMs,
          outcome.result,
          outcome.reason,
          outcome.errorMessage,
          outcome.errorStack,
          runId,
        ];
        if (hot) return ((await hot(FINISH_SQL, bindings)).changes ?? 0) > 0;
        if (dialect !== "sqlite") return changedRows(await db.raw(FINISH_SQL, bindings), dialect) > 0;
        // Another SQLite driver: its raw result does not say what changed; the builder's does.
        const changed = await runs().where({ id: runId, status: "running" }).update({
          status: outcome.status,
          finished_at: outcome.finishedAt.getTime(),
          attempt: outcome.attempt,
          duration_ms: outcome.durationMs,
          result: outcome.result,
          reason: outcome.reason,
          error_message: outcome.errorMessage,
          error_stack: outcome.errorStack,
          lease_until: null,
        });
        return num(changed) > 0;
      }),
    get: (runId) => wrap("read", () => get(runId)),
    findByTick: (taskId, scheduledFor) =>
      wrap("read", async () => {
        const key = claimKey({ id: "", trigger: "schedule", scheduledFor });
        const row = (await runs().where({ task_id: taskId, claim_key: key }).first()) as Row | undefined;
        return row && runFromRow(row);
      }),
    list: (query: RunQuery = {}) =>
      wrap("list", async () => {
        const q = runs()
          .select("*")
          .orderBy([
            { column: "claimed_at", order: "desc" },
            { column: "id", order: "desc" },
          ])
          .limit(query.limit ?? 50);
        if (query.taskId !== undefined) q.where({ task_id: query.taskId });
        if (query.status !== undefined) q.where({ status: query.status });
        return ((await q) as Row[]).map(runFromRow);
      }),
    latestPerTask: (taskIds) =>
      wrap("list", async () => {
        const byTask = await perTask(taskIds, (chunk) => latestRunsQuery(db, table, chunk));
        return new Map([...byTask].map(([taskId, [run]]) => [taskId, run as RunRecord]));
      }),
    recentTickRuns: (taskIds, limit) => wrap("list", () => perTask(taskIds, (chunk) => recentTickRunsQuery(db, table, chunk, limit))),
    lastSucceeded: (taskIds) =>
      wrap("list", async () => {
        const byTask = await perTask(taskIds, (chunk) => lastSucceededQuery(db, table, chunk));
        return new Map([...byTask].map(([taskId, [run]]) => [taskId, run as RunRecord]));
      }),
    ...taskState,
    events: knexEvents(db, prefix, dialect, wrap),
    prune: (before, batchSize = 1000) =>
      wrap("prune", () =>
        deleteInBatches(db, table, (q) => q.whereNot({ status: "running" }).where("claimed_at", "<", before.getTime()), batchSize),
      ),
  };
}

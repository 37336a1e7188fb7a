import type { Knex } from "knex";
import { dbFailureHint } from "../db.ts";
import { UpkeepError } from "../errors.ts";
import { knexTaskState } from "./knex-task-state.ts";
import { migrate, pendingMigrations } from "./migrate.ts";
import {
  type ClaimResult,
  claimKey,
  type NewRun,
  newRecord,
  type RunOutcome,
  type RunQuery,
  type RunRecord,
  type RunStatus,
  type RunStore,
} from "./types.ts";

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

function toRecord(row: Row): RunRecord {
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
 * Run history in the host's database through its knex instance: PostgreSQL, MySQL/MariaDB or
 * SQLite. The unique `(task_id, claim_key)` key makes `claim` atomic across every process that
 * shares the database. Times are stored as epoch milliseconds.
 */
export function knexStore(db: Knex, options: KnexStoreOptions = {}): RunStore {
  const prefix = options.tablePrefix ?? "upkeep_";
  const table = `${prefix}runs`;
  const runs = () => db(table);

  const wrap = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof UpkeepError) throw error;
      throw new UpkeepError("STORE_FAILED", `run store: ${what} failed${dbFailureHint(error)}`, { cause: error });
    }
  };

  /** The runs that count as ticks for health: scheduled or catch-up, not dry runs. */
  const tickRuns = (taskId: string) => runs().where({ task_id: taskId, dry_run: false }).whereIn("trigger", ["schedule", "catch-up"]);

  const get = async (runId: string) => {
    const row = (await runs().where({ id: runId }).first()) as Row | undefined;
    return row && toRecord(row);
  };

  return {
    name: `knex:${String(db.client.config.client)}`,
    async migrate() {
      await wrap("migrate", () => migrate(db, prefix));
    },
    pendingMigrations: () => wrap("migration check", () => pendingMigrations(db, prefix)),
    claim: (run: NewRun) =>
      wrap("claim", async (): Promise<ClaimResult> => {
        try {
          await runs().insert({
            id: run.id,
            task_id: run.taskId,
            claim_key: claimKey(run),
            scheduled_for: run.scheduledFor.getTime(),
            trigger: run.trigger,
            status: "running",
            attempt: 1,
            dry_run: run.dryRun,
            claimed_at: run.claimedAt.getTime(),
            lease_until: run.leaseUntil.getTime(),
            host: run.host,
            pid: run.pid,
          });
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
          const row = (await runs()
            .where({ task_id: run.taskId, claim_key: claimKey(run) })
            .first()) as Row | undefined;
          return { claimed: false, existing: row && toRecord(row) };
        }
        return { claimed: true, run: newRecord(run) };
      }),
    hasEarlierLiveRun: (run, now) =>
      wrap("overlap check", async () => {
        const claimed = run.claimedAt.getTime();
        const row = await runs()
          .select("id")
          .where({ task_id: run.taskId, status: "running" })
          .whereNot({ id: run.id })
          .where("lease_until", ">=", now.getTime())
          .where((q) => q.where("claimed_at", "<", claimed).orWhere((tie) => tie.where("claimed_at", claimed).where("id", "<", run.id)))
          .first();
        return row !== undefined;
      }),
    abandonExpired: (taskId, now) =>
      wrap("abandon expired", async () => {
        const rows = (await runs()
          .select("id")
          .where({ task_id: taskId, status: "running" })
          .where("lease_until", "<", now.getTime())) as Row[];
        const ids = rows.map((row) => String(row.id));
        if (ids.length === 0) return [];
        // Compare-and-set on status and lease: a run that renewed meanwhile stays running.
        await runs()
          .whereIn("id", ids)
          .where({ status: "running" })
          .where("lease_until", "<", now.getTime())
          .update({ status: "abandoned", finished_at: now.getTime(), lease_until: null, reason: "lease expired without an outcome" });
        const after = (await runs().select("id").whereIn("id", ids).where({ status: "abandoned" })) as Row[];
        return after.map((row) => String(row.id));
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
        await runs().where({ id: runId }).update({
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
      }),
    get: (runId) => wrap("read", () => get(runId)),
    findByTick: (taskId, scheduledFor) =>
      wrap("read", async () => {
        const key = claimKey({ id: "", trigger: "schedule", scheduledFor });
        const row = (await runs().where({ task_id: taskId, claim_key: key }).first()) as Row | undefined;
        return row && toRecord(row);
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
        return ((await q) as Row[]).map(toRecord);
      }),
    latestPerTask: () =>
      wrap("list", async () => {
        const newest = db(table).select("task_id").max({ newest: "claimed_at" }).groupBy("task_id").as("newest");
        const rows = (await db(`${table} as r`)
          .select("r.*")
          .join(newest, (join) => join.on("r.task_id", "newest.task_id").andOn("r.claimed_at", "newest.newest"))) as Row[];
        const latest = new Map<string, RunRecord>();
        for (const record of rows.map(toRecord).sort((a, b) => (a.id < b.id ? 1 : -1))) {
          if (!latest.has(record.taskId)) latest.set(record.taskId, record);
        }
        return latest;
      }),
    recentTickRuns: (taskId, limit) =>
      wrap("list", async () => {
        // One tick run per (task, tick): the claim key is unique, so the tick alone orders them.
        const rows = (await tickRuns(taskId).orderBy("scheduled_for", "desc").limit(limit)) as Row[];
        return rows.map(toRecord);
      }),
    lastSucceeded: (taskId) =>
      wrap("list", async () => {
        const row = (await tickRuns(taskId).where({ status: "succeeded" }).orderBy("scheduled_for", "desc").first()) as Row | undefined;
        return row && toRecord(row);
      }),
    ...knexTaskState(db, prefix, wrap),
    prune: (before, batchSize = 1000) =>
      wrap("prune", async () => {
        let removed = 0;
        for (;;) {
          const rows = (await runs()
            .select("id")
            .whereNot({ status: "running" })
            .where("claimed_at", "<", before.getTime())
            .limit(batchSize)) as Row[];
          if (rows.length === 0) return removed;
          removed += num(
            await runs()
              .whereIn(
                "id",
                rows.map((row) => String(row.id)),
              )
              .delete(),
          );
          if (rows.length < batchSize) return removed;
        }
      }),
  };
}

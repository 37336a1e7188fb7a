import { setTimeout as sleep } from "node:timers/promises";
import type { Knex } from "knex";
import { dialectOf, isTransientDbError, type SqlDialect } from "../../db.ts";
import { errorMessage, TaskError } from "../../errors.ts";
import type { TaskContext } from "../../task.ts";
import { type ColumnCache, checkPolicy } from "./check.ts";
import type { ResolvedPolicy } from "./policies.ts";
import { archiveRange, asyncCommit, countMatching, deleteRange, sliceArithmetic } from "./sql.ts";
import { ageSpanPlan, keyWalk, type Plan, type RemoveRange, sinkWalk, sliceWalk, type Walk } from "./walks.ts";

/** What one policy did in a run. */
export interface PolicyResult {
  /** The policy's name (its table when it was given none). */
  name: string;
  /** The table the policy cleans. */
  table: string;
  /** What the policy does with matched rows: `delete`, `archive` or `dedupe`. */
  action: ResolvedPolicy["action"];
  /** `done`; `skipped` (kept forever); `stopped` (aborted between batches); `failed`; `not_started` (the run was aborted first). */
  status: "done" | "skipped" | "stopped" | "failed" | "not_started";
  /** Rows the selection matched: counted in a dry run, batched otherwise. */
  matched: number;
  /** Rows deleted from the table (archived rows included); 0 in a dry run. */
  deleted: number;
  /** Rows copied to the archive table or handed to the sink before their delete; 0 in a dry run. */
  archived: number;
  /** Batches committed. */
  batches: number;
  /** Wall time the policy took, in milliseconds. */
  durationMs: number;
  /** Whether the policy ended before its selection was exhausted (`stopped` or `not_started`). */
  stoppedEarly: boolean;
  /** Why the policy was skipped; set only with status `skipped`. */
  reason?: string;
  /** The failure's message; set only with status `failed`. */
  error?: string;
}

export interface PolicyRunOptions {
  db: Knex;
  batchSize: number;
  /** Target duration of one batch in ms; 0 keeps batches at batchSize. */
  batchTimeMs: number;
  maxBatchSize: number;
  pauseMs: number;
  /** Lanes of a key-span delete on MariaDB/MySQL (see choosePlan). */
  concurrency: number;
  now: Date;
  cache: ColumnCache;
}

export function emptyResult(policy: ResolvedPolicy, status: PolicyResult["status"]): PolicyResult {
  return {
    name: policy.name,
    table: policy.table,
    action: policy.action,
    status,
    matched: 0,
    deleted: 0,
    archived: 0,
    batches: 0,
    durationMs: 0,
    stoppedEarly: status === "not_started",
  };
}

/**
 * A predicted PostgreSQL slice is rolled back after this many times `batchTime` (twice the target:
 * a slice about twice as dense as predicted), and the batch is found instead.
 */
const PREDICTED_GUARD = 2;

/**
 * Tries of one batch that fails on a deadlock, a lock timeout or a lost connection
 * (isTransientDbError). Such a batch was rolled back whole and a walk moves on only after a batch
 * succeeds, so trying it again removes the same rows or, where they changed meanwhile, what still
 * matches.
 */
const BATCH_TRIES = 3;

/**
 * Runs one batch, trying it again (BATCH_TRIES in all, 50 ms, then 100 ms apart) when it fails on a
 * transient database error; each retry is a warning naming the error's code only.
 */
async function withRetries(ctx: TaskContext, policy: ResolvedPolicy, batch: () => ReturnType<Walk>) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await batch();
    } catch (error) {
      if (attempt >= BATCH_TRIES || ctx.signal.aborted || !isTransientDbError(error)) throw error;
      const code = (error as { code?: unknown }).code;
      ctx.logger.warn(
        { policy: policy.name, attempt, code },
        "[upkeep] cleanup: a batch was rolled back by a transient database error; trying it again",
      );
      await pause(50 * attempt, ctx.signal);
      // Aborted while waiting: the batch stays undone, and the policy records why.
      if (ctx.signal.aborted) throw error;
    }
  }
}

/** Waits between batches; an abort ends the wait at once (the loop then sees the signal). */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  await sleep(ms, undefined, { signal }).catch(() => {});
}

/**
 * The next batch size. A batch between half the target and the target keeps its size; otherwise
 * the size is scaled by the measured rate to land at three quarters of the target, growing at most
 * 4x and shrinking at most 8x per batch (one slow outlier, such as a WAL checkpoint, does not
 * collapse it), and capped at `maxBatchSize`.
 */
export function nextSize(size: number, tookMs: number, options: Pick<PolicyRunOptions, "batchTimeMs" | "maxBatchSize">): number {
  const target = options.batchTimeMs;
  if (target <= 0) return size;
  if (tookMs >= target / 2 && tookMs <= target) return size;
  const aimed = Math.round((size * target * 0.75) / Math.max(tookMs, 1));
  const bounded = Math.min(size * 4, Math.max(Math.ceil(size / 8), aimed));
  return Math.max(1, Math.min(options.maxBatchSize, bounded));
}

/**
 * How the policy's rows are cut into batches (see walks.ts); undefined when a read beforehand found
 * nothing to remove.
 * - A sink reads whole rows, `batchSize` at a time, and deletes what it acknowledged.
 * - A pure age cut (no `where`, not a dedupe) on an indexed column: on PostgreSQL, deletes go by
 *   slices of the age index, as the raw statement reads it; elsewhere, and for archives, by ranges
 *   of integer keys (ageSpanPlan). MariaDB deletes through its primary key faster than through a
 *   secondary index, and SQLite is even.
 * - Anything else, or keys that are not integers, walks key by key.
 *
 * Only a key-span delete on MariaDB/MySQL runs in `concurrency` lanes. InnoDB purges each committed
 * batch beside the next ones, so one lane waits for the CPU behind the purge; lanes over disjoint
 * keys never wait for each other's rows. On PostgreSQL two lanes of slices (the halves of the
 * expired times) measured slower than one (docs/tasks/cleanup.md); SQLite has one writer; and an
 * archive's `insert ... where not exists` would take InnoDB gap locks on the archive table that two
 * lanes could deadlock on.
 */
async function choosePlan(
  db: Knex,
  dialect: SqlDialect,
  policy: ResolvedPolicy,
  now: Date,
  options: Pick<PolicyRunOptions, "batchSize" | "batchTimeMs" | "concurrency">,
  check: { columns: string[]; indexed: Set<string>; ageType: string | undefined },
): Promise<Plan | undefined> {
  const { batchSize } = options;
  const archive = policy.archive;
  const one = (walk: Walk): Plan => ({ lanes: [walk], retry: true });
  if (archive && "sink" in archive) return { lanes: [sinkWalk(db, policy, now, archive.sink, batchSize)], retry: false };
  const remove: RemoveRange = (selection, after, bound) =>
    archive
      ? db.transaction(async (trx): Promise<number> => {
          if (dialect === "postgres") await asyncCommit(trx);
          return archiveRange(trx, selection, archive.table, check.columns, now, after, bound);
        })
      : deleteRange(db, dialect, selection, now, after, bound);
  const pureAge = policy.where.length === 0 && !policy.dedupe ? policy.age : undefined;
  if (!pureAge || !check.indexed.has(pureAge.column)) return one(keyWalk(db, dialect, policy, now, remove));
  if (dialect === "postgres" && !archive) {
    // Fixed batches (batchTime 0) keep found bounds: exactly batchSize rows a slice.
    const arithmetic = options.batchTimeMs > 0 ? sliceArithmetic(policy, check.ageType) : undefined;
    return one(sliceWalk(db, policy, now, remove, arithmetic && { arithmetic, guardMs: PREDICTED_GUARD * options.batchTimeMs }));
  }
  const count = dialect === "mysql" && !archive ? options.concurrency : 1;
  return ageSpanPlan(db, dialect, policy, now, remove, { count, batchSize });
}

/** Runs one policy in batches. Never throws: a failure is recorded in the result. */
export async function runPolicy(ctx: TaskContext, policy: ResolvedPolicy, options: PolicyRunOptions): Promise<PolicyResult> {
  const result = emptyResult(policy, "done");
  if (policy.keepForever) return { ...result, status: "skipped", reason: "olderThan is 0 or null: rows are kept forever" };
  const started = performance.now();
  const { db, batchSize, now } = options;
  const log = ctx.logger;
  try {
    const check = await checkPolicy(db, policy, options.cache);
    if (check.issues.length > 0) throw new TaskError(check.issues.map((issue) => issue.message).join("; "));
    for (const warning of check.warnings) log.warn({ policy: policy.name }, `[upkeep] cleanup: ${warning}`);
    // The statements read the flag columns and SQLite's time form as this check decided them, never by a guess of their own.
    const checked: ResolvedPolicy = { ...policy, flags: check.flags, sqliteTime: check.sqliteTime };

    if (ctx.dryRun) {
      result.matched = await countMatching(db, checked, now);
      result.reason = "dry run: nothing was changed";
      return result;
    }

    const dialect = dialectOf(db);
    let plan = await choosePlan(db, dialect, checked, now, options, check);
    /** Set when a lane fails: the other lanes stop after their current batch. */
    let failed = false;
    const lane = async (walk: Walk, retry: boolean): Promise<void> => {
      let size = batchSize;
      while (!failed) {
        if (ctx.signal.aborted) {
          result.status = "stopped";
          result.stoppedEarly = true;
          return;
        }
        const began = performance.now();
        const step = retry ? await withRetries(ctx, policy, () => walk(size)) : await walk(size);
        if (!step) return;
        size = nextSize(size, performance.now() - began, options);
        result.deleted += step.removed;
        if (policy.archive) result.archived += step.removed;
        result.matched += step.matched ?? step.removed;
        result.batches++;
        ctx.progress({ done: result.deleted, unit: "rows", label: policy.name });
        if (step.last) return;
        await pause(options.pauseMs, ctx.signal);
      }
    };
    while (plan) {
      const { retry } = plan;
      // Every lane settles before the policy's result is written: none goes on deleting after it.
      const lanes = await Promise.allSettled(
        plan.lanes.map((walk) =>
          lane(walk, retry).catch((error: unknown) => {
            failed = true;
            throw error;
          }),
        ),
      );
      const failure = lanes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
      if (failure) throw failure.reason;
      if (result.status === "stopped") break;
      plan = await plan.next?.();
    }
  } catch (error) {
    result.status = "failed";
    result.error = errorMessage(error).replace(/^\[upkeep\] /, "");
    log.error({ policy: policy.name, err: error }, "[upkeep] cleanup policy failed");
  } finally {
    result.durationMs = Math.round(performance.now() - started);
  }
  return result;
}

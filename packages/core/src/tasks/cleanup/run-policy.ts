import { setTimeout as sleep } from "node:timers/promises";
import type { Knex } from "knex";
import { dialectOf } from "../../db.ts";
import { errorMessage, TaskError } from "../../errors.ts";
import type { TaskContext } from "../../task.ts";
import { type ColumnCache, checkPolicy } from "./check.ts";
import type { ResolvedPolicy } from "./policies.ts";
import { archiveRange, asyncCommit, countMatching, deleteKeys, deleteRange, keySpan, nextBatch, nextKey, selectRows } from "./sql.ts";

/** What one policy did in a run. */
export interface PolicyResult {
  name: string;
  table: string;
  action: ResolvedPolicy["action"];
  /** `done`; `skipped` (kept forever); `stopped` (aborted between batches); `failed`; `not_started` (the run was aborted first). */
  status: "done" | "skipped" | "stopped" | "failed" | "not_started";
  /** Rows the selection matched: counted in a dry run, batched otherwise. */
  matched: number;
  deleted: number;
  archived: number;
  batches: number;
  durationMs: number;
  stoppedEarly: boolean;
  reason?: string;
  error?: string;
}

export interface PolicyRunOptions {
  db: Knex;
  batchSize: number;
  /** Target duration of one batch in ms; 0 keeps batches at batchSize. */
  batchTimeMs: number;
  maxBatchSize: number;
  pauseMs: number;
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

    if (ctx.dryRun) {
      result.matched = await countMatching(db, policy, now);
      result.reason = "dry run: nothing was changed";
      return result;
    }

    const dialect = dialectOf(db);
    const sink = policy.archive && "sink" in policy.archive ? policy.archive.sink : undefined;
    const archiveTable = policy.archive && "table" in policy.archive ? policy.archive.table : undefined;
    const removeRange = (after: unknown, bound: unknown): Promise<number> =>
      archiveTable
        ? db.transaction(async (trx): Promise<number> => {
            if (dialect === "postgres") await asyncCommit(trx);
            return archiveRange(trx, policy, archiveTable, check.columns, now, after, bound);
          })
        : deleteRange(db, dialect, policy, now, after, bound);
    // A pure age cut on an indexed column with integer keys is cut into key ranges between the
    // lowest and highest matching key, read once through the age index: no find per batch, and no
    // walk past the last expired row. Where the selection is narrower, a range could hold few
    // matches, so it walks key by key.
    const pureAge = policy.where.length === 0 && !policy.dedupe ? policy.age : undefined;
    const span = !sink && pureAge && check.indexed.has(pureAge.column) ? await keySpan(db, dialect, policy, now) : undefined;
    if (span === "none") return result;
    let after: unknown = span ? span.lo - 1 : undefined;
    let size = batchSize;
    for (;;) {
      if (ctx.signal.aborted) {
        result.status = "stopped";
        result.stoppedEarly = true;
        break;
      }
      let count: number;
      let last = false;
      if (sink) {
        const rows = await selectRows(db, policy, now, after, batchSize);
        count = rows.length;
        if (count === 0) break;
        const keys = rows.map((row) => row[policy.primaryKey]);
        const acked = await sink(rows, { policy: policy.name, table: policy.table, primaryKey: policy.primaryKey });
        // Only keys of this batch are deleted, whatever else a sink returns.
        const ackedSet = acked ? new Set(acked.map(String)) : undefined;
        const moved = await deleteKeys(db, policy, now, ackedSet ? keys.filter((key) => ackedSet.has(String(key))) : keys);
        result.archived += moved;
        result.deleted += moved;
        after = keys[keys.length - 1];
        last = count < batchSize;
      } else {
        const began = performance.now();
        let bound: unknown;
        if (span) {
          bound = Math.min(span.hi, (after as number) + size);
          last = bound === span.hi;
        } else {
          const batch = await nextBatch(db, dialect, policy, now, after, size);
          if (batch.count === 0) break;
          bound = batch.last;
          last = batch.count < size;
        }
        const removed = await removeRange(after, bound);
        if (archiveTable) result.archived += removed;
        result.deleted += removed;
        count = removed;
        after = bound;
        size = nextSize(size, performance.now() - began, options);
        if (span && removed === 0 && !last) {
          // A gap in the key space: go on from the next matching key.
          const next = await nextKey(db, policy, now, bound as number, span.hi);
          if (next === undefined) last = true;
          else after = next - 1;
        }
      }
      result.matched += count;
      result.batches++;
      ctx.progress({ done: result.deleted, unit: "rows", label: policy.name });
      if (last) break;
      await pause(options.pauseMs, ctx.signal);
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

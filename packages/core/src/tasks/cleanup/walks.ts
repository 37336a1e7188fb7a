// The ways a policy's rows are cut into batches. Each walk removes one batch a call, each batch
// its own short transaction, and remembers where it is, so the loop in run-policy.ts only counts,
// paces and checks the abort signal between calls.
import type { Knex } from "knex";
import type { SqlDialect } from "../../db.ts";
import type { CleanupSink } from "./options.ts";
import type { ResolvedPolicy } from "./policies.ts";
import {
  deleteKeys,
  deletePredictedSlice,
  deleteSlice,
  endKeys,
  guardTimeout,
  isStatementTimeout,
  keySpan,
  nextBatch,
  nextKey,
  type SliceArithmetic,
  type SliceStart,
  type SliceWidth,
  selectRows,
  sliceBound,
} from "./sql.ts";

/** What one call of a walk did: rows removed, and whether nothing is left after it. */
export interface Step {
  removed: number;
  /** Rows the batch matched, when some of them may stay (a sink acknowledges only part); else `removed`. */
  matched?: number;
  last: boolean;
}

/** Removes the next batch of at most `size` rows; undefined when there was none left. */
export type Walk = (size: number) => Promise<Step | undefined>;

/** Removes (deletes or archives) the policy's matching rows in the key range (after, bound]. */
export type RemoveRange = (policy: ResolvedPolicy, after: unknown, bound: unknown) => Promise<number>;

/**
 * Key by key: each batch is found by walking the primary key to the batch's last matching row, then
 * removed as the key range up to it. Works for any selection and any key type.
 */
export function keyWalk(db: Knex, dialect: SqlDialect, policy: ResolvedPolicy, now: Date, remove: RemoveRange): Walk {
  let after: unknown;
  return async (size) => {
    const batch = await nextBatch(db, dialect, policy, now, after, size);
    if (batch.count === 0) return undefined;
    const removed = await remove(policy, after, batch.last);
    after = batch.last;
    return { removed, last: batch.count < size };
  };
}

/**
 * Key ranges over a span of integer keys known beforehand (see ageSpanPlan): no find per batch. A
 * range that removes nothing (a gap in the keys) costs one lookup of the next matching key.
 */
export function spanWalk(
  db: Knex,
  policy: ResolvedPolicy,
  now: Date,
  span: { lo: number; hi: number },
  remove: RemoveRange,
): (size: number) => Promise<Step> {
  let after = span.lo - 1;
  return async (size) => {
    const bound = Math.min(span.hi, after + size);
    let last = bound === span.hi;
    const removed = await remove(policy, after, bound);
    after = bound;
    if (removed === 0 && !last) {
      const next = await nextKey(db, policy, now, bound, span.hi);
      if (next === undefined) last = true;
      else after = next - 1;
    }
    return { removed, last };
  };
}

/**
 * What runs a policy: `lanes`, walks run at once, each its own loop of batches over rows no other
 * lane touches; once every lane has ended, the plan `next` returns, if any.
 */
export interface Plan {
  lanes: Walk[];
  next?: () => Promise<Plan | undefined>;
  /**
   * Whether a batch rolled back by a transient database error may be tried again: not a sink's,
   * which already has the rows (a sink that throws stops the policy).
   */
  retry: boolean;
}

/**
 * A span of integer keys cut into at most `lanes` spans of equal width, each walked by its own
 * spanWalk, but no more lanes than the span holds batches of `batchSize` keys.
 */
function spanLanes(
  db: Knex,
  policy: ResolvedPolicy,
  now: Date,
  span: { lo: number; hi: number },
  remove: RemoveRange,
  lanes: { count: number; batchSize: number },
): Walk[] {
  const keys = span.hi - span.lo + 1;
  const count = Math.max(1, Math.min(lanes.count, Math.ceil(keys / lanes.batchSize)));
  const width = Math.ceil(keys / count);
  const walks: Walk[] = [];
  for (let lo = span.lo; lo <= span.hi; lo += width)
    walks.push(spanWalk(db, policy, now, { lo, hi: Math.min(span.hi, lo + width - 1) }, remove));
  return walks;
}

/**
 * A pure age cut by key spans: first the span guessed from the two ends of the age index (endKeys),
 * then, once that is walked, the exact span of whatever still matches, which by then holds only
 * rows whose keys lay outside the guess. Reading the exact span first would read every expired
 * entry of the age index before the first delete; afterwards SQLite's index holds none of the
 * removed rows. Rows written during the run outside both spans are the next run's. Each span is
 * cut into `lanes.count` lanes of disjoint keys (see spanLanes). Undefined when nothing matches;
 * keys that are not safe integers walk key by key, in one lane.
 */
export async function ageSpanPlan(
  db: Knex,
  dialect: SqlDialect,
  policy: ResolvedPolicy,
  now: Date,
  remove: RemoveRange,
  lanes: { count: number; batchSize: number },
): Promise<Plan | undefined> {
  const guess = await endKeys(db, policy, now);
  if (guess === "none") return undefined;
  if (guess === undefined) return { lanes: [keyWalk(db, dialect, policy, now, remove)], retry: true };
  return {
    lanes: spanLanes(db, policy, now, guess, remove, lanes),
    retry: true,
    next: async () => {
      const span = await keySpan(db, dialect, policy, now);
      if (span === "none") return undefined;
      return { lanes: span ? spanLanes(db, policy, now, span, remove, lanes) : [keyWalk(db, dialect, policy, now, remove)], retry: true };
    },
  };
}

/** How sliceWalk predicts bounds: the column's arithmetic and the time after which a predicted slice is rolled back. */
export interface SlicePrediction {
  arithmetic: SliceArithmetic;
  /** Shortened to the server's `statement_timeout` when that is shorter. */
  guardMs: number;
}

/**
 * PostgreSQL, a pure age cut deleted through the age column's index: each batch is the slice of the
 * column from where the last one ended up to the value `size` rows on, found by an index-only read
 * of the index and deleted by the same index range, as the raw `DELETE` reads it. No key span to
 * read first, and any key type. The bound is read back as the database writes it and bound again
 * untyped, so PostgreSQL reads it as the column's own type, to the microsecond. More than `size`
 * rows with one value would make a slice that cannot be cut, so such a group is removed key by key.
 *
 * With `prediction`, a slice that follows one which removed rows is not found but predicted: as
 * wide as that one, scaled by `size` over the rows it removed (at most 4x), deleted under a
 * `statement_timeout` guard (deletePredictedSlice). The find read every expired entry of the index
 * a second time; a prediction costs no read. A slice denser than predicted is rolled back at the
 * guard and found instead; one that removes nothing (a gap in time, the cutoff passed) is followed
 * by a find, which jumps the gap or ends the walk. Each slice starts where the last one ended,
 * whatever was predicted, so a wrong prediction costs time, never rows.
 */
export function sliceWalk(db: Knex, policy: ResolvedPolicy, now: Date, remove: RemoveRange, prediction?: SlicePrediction): Walk {
  const column = policy.age?.column;
  if (!column) throw new Error("sliceWalk needs an age policy");
  let from: SliceStart | undefined;
  let tie: Walk | undefined;
  /** The last slice that removed rows and ended where the next one starts: what a prediction scales. */
  let previous: (SliceWidth & { removed: number }) | undefined;
  /** The predicted slices' timeout, read against the server's once. */
  let guardMs: number | undefined;
  const step: Walk = async (size) => {
    if (tie && from) {
      const done = await tie(size);
      if (done && !done.last) return done;
      tie = undefined;
      from = { value: from.value, inclusive: false };
      if (done) return { removed: done.removed, last: false };
    }
    if (prediction && previous && from?.inclusive && from.value === previous.to) {
      const factor = Math.min(4, Math.max(1 / 8, size / previous.removed));
      guardMs ??= await guardTimeout(db, prediction.guardMs);
      try {
        const cut = await deletePredictedSlice(db, policy, now, previous, factor, prediction.arithmetic, guardMs);
        if (cut && cut.removed > 0) {
          previous = { from: previous.to, to: cut.bound, removed: cut.removed };
          from = { value: cut.bound, inclusive: true };
          return { removed: cut.removed, last: false };
        }
        // Nothing there (a gap in time, or past the cutoff): the find below jumps the gap or ends.
        if (cut) from = { value: cut.bound, inclusive: true };
      } catch (error) {
        // Denser than predicted: rolled back whole; this batch is found, as without a prediction.
        if (!isStatementTimeout(error)) throw error;
      }
      previous = undefined;
    }
    const start = from;
    const bound = await sliceBound(db, policy, now, from, size);
    if (bound !== undefined && from?.inclusive && bound === from.value) {
      const value = bound;
      const group: ResolvedPolicy = { ...policy, where: [...policy.where, (query) => query.where(`${policy.table}.${column}`, value)] };
      tie = keyWalk(db, "postgres", group, now, remove);
      return step(size);
    }
    const removed = await deleteSlice(db, policy, now, from, bound);
    if (bound === undefined) return removed > 0 ? { removed, last: true } : undefined;
    previous = start?.inclusive && removed > 0 ? { from: start.value, to: bound, removed } : undefined;
    from = { value: bound, inclusive: true };
    // Empty when the next rows all hold the bound itself: the next call finds it a group.
    if (removed === 0) return step(size);
    return { removed, last: false };
  };
  return step;
}

/**
 * A sink: whole rows, `batchSize` at a time (never grown, since they are held in memory), handed to
 * the host; only keys of the batch that the sink acknowledged are deleted, whatever else it returns.
 */
export function sinkWalk(db: Knex, policy: ResolvedPolicy, now: Date, sink: CleanupSink, batchSize: number): Walk {
  let after: unknown;
  return async () => {
    const rows = await selectRows(db, policy, now, after, batchSize);
    if (rows.length === 0) return undefined;
    const keys = rows.map((row) => row[policy.primaryKey]);
    const acked = await sink(rows, { policy: policy.name, table: policy.table, primaryKey: policy.primaryKey });
    const ackedSet = acked ? new Set(acked.map(String)) : undefined;
    const removed = await deleteKeys(db, policy, now, ackedSet ? keys.filter((key) => ackedSet.has(String(key))) : keys);
    after = keys[keys.length - 1];
    return { removed, matched: rows.length, last: rows.length < batchSize };
  };
}

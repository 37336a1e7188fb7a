import type { Knex } from "knex";
import type { TaskContext } from "../../task.ts";
import { compareAndSetMany } from "./sql.ts";

/** What to do with one row: write a new value, keep it, or report it as undecryptable. */
export type RowDecision = { write: string } | "keep" | "fail";

export interface PassOptions {
  db: Knex;
  table: string;
  id: string;
  column: string;
  batchSize: number;
  reportLimit: number;
  dryRun: boolean;
  /** Narrows the rows looked at (for example: not yet on the active key). */
  narrow?: (query: Knex.QueryBuilder) => Knex.QueryBuilder;
  decide: (id: string | number, value: string) => Promise<RowDecision> | RowDecision;
}

export interface PassResult {
  scanned: number;
  /** Rows rewritten (or, in a dry run, that would be). */
  reencrypted: number;
  /** Rows the app changed between our read and our write; left as the app wrote them. */
  conflicts: number;
  undecryptable: number;
  /** The first `reportLimit` undecryptable row ids. */
  undecryptableIds: Array<string | number>;
  /** The pass stopped early because the run's signal fired; a rerun continues. */
  stopped: boolean;
}

type Row = Record<string, unknown>;

/**
 * Walks a column by primary key in batches. Each batch: read, decide per row (decrypt, re-encrypt)
 * outside any transaction, then write the batch in one short transaction where every update is a
 * compare-and-set on the value read, so a concurrent write by the app wins and is never
 * overwritten. A crash loses at most the batch in flight, and the rerun finds those rows again
 * because they still carry the old value.
 */
export async function reencryptPass(ctx: TaskContext, options: PassOptions): Promise<PassResult> {
  const { db, table, id, column } = options;
  const result: PassResult = { scanned: 0, reencrypted: 0, conflicts: 0, undecryptable: 0, undecryptableIds: [], stopped: false };
  const label = `${table}.${column}`;
  const base = () => {
    const query = db(table).whereNotNull(column);
    return options.narrow ? options.narrow(query) : query;
  };
  const counted = (await base().count({ n: "*" }).first()) as Row | undefined;
  const total = Number(counted?.n ?? 0);
  ctx.progress({ done: 0, total, unit: "rows", label });
  let cursor: unknown;
  for (;;) {
    if (ctx.signal.aborted) {
      result.stopped = true;
      break;
    }
    let query = base().select({ id, value: column }).orderBy(id, "asc").limit(options.batchSize);
    if (cursor !== undefined) query = query.where(id, ">", cursor as Knex.Value);
    const rows = (await query) as Row[];
    if (rows.length === 0) break;
    cursor = rows[rows.length - 1]?.id;
    result.scanned += rows.length;

    const writes: Array<{ id: string | number; from: string; to: string }> = [];
    for (const row of rows) {
      const rowId = row.id as string | number;
      const decision = await options.decide(rowId, String(row.value));
      if (decision === "keep") continue;
      if (decision === "fail") {
        result.undecryptable++;
        if (result.undecryptableIds.length < options.reportLimit) result.undecryptableIds.push(rowId);
        continue;
      }
      writes.push({ id: rowId, from: String(row.value), to: decision.write });
    }

    if (options.dryRun) {
      result.reencrypted += writes.length;
    } else if (writes.length > 0) {
      const written = await db.transaction((trx) => compareAndSetMany(trx, table, id, column, writes));
      result.reencrypted += written;
      result.conflicts += writes.length - written;
    }
    ctx.progress({ done: result.scanned, total, unit: "rows", label });
  }
  return result;
}

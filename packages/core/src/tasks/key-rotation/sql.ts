import type { Knex } from "knex";
import { dialectOf } from "../../db.ts";

/** SQL text with its bindings, to embed in a larger raw statement. */
export interface SqlFragment {
  sql: string;
  bindings: Knex.RawBinding[];
}

/** `column LIKE 'prefix%'`, case-sensitive on every dialect. The prefix holds no LIKE wildcards (checked by the caller). */
export function startsWith(db: Knex, column: string, prefix: string): SqlFragment {
  switch (dialectOf(db)) {
    case "mysql":
      return { sql: "?? like binary ?", bindings: [column, `${prefix}%`] };
    case "sqlite":
      // SQLite's LIKE ignores ASCII case; substr compares bytes.
      return { sql: "substr(??, 1, ?) = ?", bindings: [column, prefix.length, prefix] };
    default:
      return { sql: "?? like ?", bindings: [column, `${prefix}%`] };
  }
}

/** Rows per UPDATE statement: 5 bindings a row stays under SQLite's 32,766-variable limit. */
const CAS_CHUNK = 500;

/**
 * Writes new values in one statement per chunk, each row only if its column still holds the value
 * read (compare-and-set):
 *
 *   update t set col = case id when ? then ? … end
 *   where id in (?, …) and col = case id when ? then ? … end
 *
 * The database checks the condition on the row version it updates (PostgreSQL re-checks a row
 * changed by a concurrent transaction; MySQL/InnoDB and SQLite update the latest version under a
 * lock), so a value the app wrote after our read is never overwritten. Returns the rows written.
 */
export async function compareAndSetMany(
  db: Knex,
  table: string,
  id: string,
  column: string,
  writes: ReadonlyArray<{ id: string | number; from: string; to: string }>,
): Promise<number> {
  const binary = dialectOf(db) === "mysql" ? "binary " : "";
  let written = 0;
  for (let start = 0; start < writes.length; start += CAS_CHUNK) {
    const chunk = writes.slice(start, start + CAS_CHUNK);
    const whens = chunk.map(() => "when ? then ?").join(" ");
    const bindings: Knex.RawBinding[] = [table, column, id];
    for (const write of chunk) bindings.push(write.id, write.to);
    bindings.push(id);
    for (const write of chunk) bindings.push(write.id);
    bindings.push(column, id);
    for (const write of chunk) bindings.push(write.id, write.from);
    const sql =
      `update ?? set ?? = case ?? ${whens} end ` +
      `where ?? in (${chunk.map(() => "?").join(", ")}) and ?? = ${binary}(case ?? ${whens} end)`;
    const outcome = (await db.raw(sql, bindings)) as unknown;
    written += affectedRows(outcome);
  }
  return written;
}

/** The row count of a raw UPDATE, as each driver reports it. */
function affectedRows(outcome: unknown): number {
  if (typeof outcome !== "object" || outcome === null) return 0;
  const o = outcome as { rowCount?: unknown; changes?: unknown; affectedRows?: unknown } & unknown[];
  if (typeof o.rowCount === "number") return o.rowCount; // pg
  if (typeof o.changes === "number") return o.changes; // better-sqlite3
  const first = Array.isArray(outcome) ? (outcome[0] as { affectedRows?: unknown }) : undefined;
  if (typeof first?.affectedRows === "number") return first.affectedRows; // mysql2: [ResultSetHeader, fields]
  return 0;
}

import type { Knex } from "knex";
import { dialectOf } from "../../db.ts";

/**
 * `column = value`, compared byte for byte. MySQL/MariaDB compare text with the column's
 * collation (often case-insensitive and trailing-space-blind), so there the value is cast to
 * binary; PostgreSQL and SQLite compare bytes already.
 */
export function whereExactly(db: Knex, query: Knex.QueryBuilder, column: string, value: string): Knex.QueryBuilder {
  if (dialectOf(db) === "mysql") return query.whereRaw("?? = binary ?", [column, value]);
  return query.where(column, value);
}

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

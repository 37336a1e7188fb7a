import type { Knex } from "knex";

/** The SQL families upkeep writes per-dialect SQL for. */
export type SqlDialect = "postgres" | "mysql" | "sqlite";

/** Which SQL family a knex instance speaks, for tasks whose fastest safe statement differs. */
export function dialectOf(db: Knex): SqlDialect {
  const client = String(db.client.config.client ?? db.client.dialect ?? "");
  if (/^(pg|postgres|postgresql|pgnative|cockroachdb|redshift)$/.test(client)) return "postgres";
  if (/^(mysql|mysql2|mariadb)$/.test(client)) return "mysql";
  if (/sqlite/.test(client)) return "sqlite";
  throw new Error(`[upkeep] unsupported knex client "${client}": use pg, mysql2 or better-sqlite3`);
}

import type { Knex } from "knex";

/**
 * The plan of a statement as text: SQLite's `explain query plan` details, or PostgreSQL's `explain`
 * with sequential scans off (an empty table is read whole by any plan; so the planner shows which
 * index serves the order).
 */
export async function queryPlan(db: Knex, dialect: string, query: Knex.QueryBuilder): Promise<string> {
  const { sql, bindings } = query.toSQL();
  if (dialect === "sqlite") {
    const rows = (await db.raw(`explain query plan ${sql}`, bindings)) as Array<{ detail: string }>;
    return rows.map((row) => row.detail).join("\n");
  }
  return db.transaction(async (trx) => {
    await trx.raw("set local enable_seqscan = off");
    const result = (await trx.raw(`explain ${sql}`, bindings)) as { rows: Array<{ "QUERY PLAN": string }> };
    return result.rows.map((row) => row["QUERY PLAN"]).join("\n");
  });
}

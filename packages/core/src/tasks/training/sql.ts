import type { SqlDialect } from "../../db.ts";

/**
 * SQL for the hour a row falls in, as an integer count of hours since the epoch. `unitsPerHour` is a
 * constant of our own (3600000 or 3600), never input, so it is written into the statement.
 */
export function hourIndexSql(dialect: SqlDialect, unitsPerHour: number): string {
  switch (dialect) {
    case "postgres":
      return `floor(?? / ${unitsPerHour}.0)::bigint`;
    case "mysql":
      return `floor(?? / ${unitsPerHour})`;
    case "sqlite":
      return `cast(?? / ${unitsPerHour} as integer)`;
  }
}

/** Whether the dialect computes latency percentiles itself (PostgreSQL's `percentile_cont`). */
export const hasPercentiles = (dialect: SqlDialect): boolean => dialect === "postgres";

/** The label column read as 0/1, whether it is a boolean or an integer. */
export function labelSql(dialect: SqlDialect): string {
  return dialect === "postgres" ? "max((??)::int)" : "max(case when ?? <> 0 then 1 else 0 end)";
}

import type { SqlDialect } from "../../db.ts";

/**
 * SQL for the hour a row falls in, as an integer count of hours since `shift` time units past the
 * epoch (hours that start at :30 in a half-hour timezone). `unitsPerHour` (3600000 or 3600) and
 * `shift` (a whole number below it) are computed by us, never input, so they are written into the
 * statement.
 */
export function hourIndexSql(dialect: SqlDialect, unitsPerHour: number, shift = 0): string {
  if (!Number.isInteger(shift) || shift < 0 || shift >= unitsPerHour) throw new RangeError("hour shift out of range");
  const time = shift === 0 ? "??" : `(?? - ${shift})`;
  switch (dialect) {
    case "postgres":
      return `floor(${time} / ${unitsPerHour}.0)::bigint`;
    case "mysql":
      return `floor(${time} / ${unitsPerHour})`;
    case "sqlite":
      // A cast truncates toward zero; times are after the epoch, so that is the floor.
      return `cast(${time} / ${unitsPerHour} as integer)`;
  }
}

/** Whether the dialect computes latency percentiles itself (PostgreSQL's `percentile_cont`). */
export const hasPercentiles = (dialect: SqlDialect): boolean => dialect === "postgres";

/** The label column read as 0/1, whether it is a boolean or an integer. */
export function labelSql(dialect: SqlDialect): string {
  return dialect === "postgres" ? "max((??)::int)" : "max(case when ?? <> 0 then 1 else 0 end)";
}

import { parseDuration } from "../../duration.ts";
import type { CleanupInput } from "./options.ts";
import { protectedTables } from "./policies.ts";

/**
 * A run's input (`upkeep.run(id, { input })`, the CLI's `--input`) over the configured one. Each
 * field replaces the configured one, except the guards, which a run can only tighten: the
 * protected tables are the configured ones (its own and its platform preset's, even when the run
 * turns the preset off) plus those the run adds, and a floor the run gives is added beside the
 * configured ones (a policy must keep rows past every floor on its table, so the higher one holds).
 * A malformed field is passed on as given, for the schema to refuse.
 */
export function mergeRunInput(configured: CleanupInput, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...configured, ...override };
  const added = override.protectedTables;
  merged.protectedTables = added === undefined || Array.isArray(added) ? [...protectedTables(configured), ...(added ?? [])] : added;
  const floors: Record<string, unknown> = { ...configured.floors };
  const extra = override.floors;
  if (extra !== undefined && (typeof extra !== "object" || extra === null || Array.isArray(extra))) merged.floors = extra;
  else {
    for (const [table, floor] of Object.entries(extra ?? {})) {
      const given = typeof floor === "number" || typeof floor === "string" ? parseDuration(floor) : undefined;
      const kept = floors[table];
      const current = kept === undefined ? undefined : parseDuration(kept as string | number);
      if (given === undefined || current === undefined || given > current) floors[table] = floor;
    }
    merged.floors = floors;
  }
  return merged;
}

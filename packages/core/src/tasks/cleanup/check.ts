import type { Knex } from "knex";
import { columnTypes, dialectOf } from "../../db.ts";
import type { ConfigIssue } from "../../errors.ts";
import type { SqliteTimeForm } from "../../sqlite-time.ts";
import { decideFlag, type FlagUse } from "./flags.ts";
import type { CleanupInput } from "./options.ts";
import { type PolicyIssue, policyIssues, type ResolvedPolicy, resolvePolicies } from "./policies.ts";
import { hasLeadingIndex } from "./sql.ts";
import { sqliteTimeForm } from "./time-form.ts";

/** What checking policies against a database found. */
export interface CleanupCheck {
  /** Problems that make a policy fail: a missing table or column, a rule broken. Paths are relative to the input. */
  issues: ConfigIssue[];
  /** Things that work but slowly, such as a timestamp column without an index. */
  warnings: string[];
}

/** Columns of each table with their declared types, read once per check. */
export type ColumnCache = Map<string, Promise<Record<string, { type: string } | undefined>>>;

function typesOf(db: Knex, cache: ColumnCache, table: string): Promise<Record<string, { type: string } | undefined>> {
  let types = cache.get(table);
  if (!types) {
    types = columnTypes(db, dialectOf(db), table);
    cache.set(table, types);
  }
  return types;
}

async function columnsOf(db: Knex, cache: ColumnCache, table: string): Promise<string[]> {
  return Object.keys(await typesOf(db, cache, table));
}

/** Checks one policy against the database: tables and columns exist, the archive can take the rows. */
export async function checkPolicy(
  db: Knex,
  policy: ResolvedPolicy,
  cache: ColumnCache = new Map(),
): Promise<{
  issues: PolicyIssue[];
  warnings: string[];
  columns: string[];
  indexed: Set<string>;
  /** The declared type of the age column, as the catalog writes it (`timestamp with time zone`). */
  ageType: string | undefined;
  /** The policy's flag columns with "set" decided from the catalog: what the run's SQL uses. */
  flags: FlagUse[];
  /** SQLite: the form the time columns hold, to bind cutoffs in (see time-form.ts). */
  sqliteTime?: SqliteTimeForm;
}> {
  const issues: PolicyIssue[] = [];
  const warnings: string[] = [];
  /** The selection's timestamp columns that lead an index. */
  const indexed = new Set<string>();
  const at = (...rest: (string | number)[]) => [...policy.path, ...rest];
  const types = await typesOf(db, cache, policy.table);
  const columns = Object.keys(types);
  const ageType = policy.age ? types[policy.age.column]?.type : undefined;
  if (columns.length === 0) {
    issues.push({ path: at("table"), message: `table "${policy.table}" does not exist` });
    return { issues, warnings, columns, indexed, ageType, flags: [] };
  }
  const has = new Set(columns);
  const need = (column: string, path: (string | number)[]) => {
    if (!has.has(column)) issues.push({ path, message: `column "${column}" does not exist in table "${policy.table}"` });
  };
  need(policy.primaryKey, at("primaryKey"));
  if (policy.age) need(policy.age.column, at("column"));
  for (const column of policy.extraColumns) need(column, at());
  const flags: FlagUse[] = [];
  for (const flag of policy.flags) {
    const decided = await decideFlag(db, dialectOf(db), policy.table, flag);
    if ("problem" in decided) issues.push({ path: flag.path, message: decided.problem });
    else flags.push({ ...flag, set: decided.set });
  }
  if (policy.dedupe) {
    for (const [index, column] of policy.dedupe.key.entries()) need(column, at("dedupe", "key", index));
    need(policy.dedupe.orderBy, at("dedupe", "orderBy"));
  }
  if (policy.archive && "table" in policy.archive) {
    const target = policy.archive.table;
    const archived = new Set(await columnsOf(db, cache, target));
    if (archived.size === 0) issues.push({ path: at("archive", "table"), message: `archive table "${target}" does not exist` });
    else {
      const missing = columns.filter((column) => !archived.has(column));
      if (missing.length > 0) {
        issues.push({ path: at("archive", "table"), message: `archive table "${target}" lacks columns: ${missing.join(", ")}` });
      }
    }
  }
  if (issues.length === 0) {
    const dialect = dialectOf(db);
    for (const column of new Set(policy.timeColumns)) {
      if (await hasLeadingIndex(db, dialect, policy.table, column)) indexed.add(column);
      else {
        warnings.push(`policy "${policy.name}": column "${policy.table}.${column}" has no index; the cleanup will scan the table`);
      }
    }
    if (dialect === "sqlite") {
      const time = await sqliteTimeForm(db, policy, indexed);
      issues.push(...time.issues);
      return { issues, warnings, columns, indexed, ageType, flags, sqliteTime: time.form };
    }
  }
  return { issues, warnings, columns, indexed, ageType, flags };
}

const joinPath = (path: (string | number)[]) => path.map(String).join(".");

/**
 * Checks cleanup options against a database before anything runs: the rules of the options
 * themselves (protected tables, floors), then that every table and column exists and that archive
 * tables can take the rows. `upkeep.start()` runs the same check through the task's `verify`.
 */
export async function checkCleanupPolicies(db: Knex, input: CleanupInput): Promise<CleanupCheck> {
  const rules = policyIssues(input);
  const issues: ConfigIssue[] = rules.map((issue) => ({ path: joinPath(issue.path), message: issue.message }));
  const warnings: string[] = [];
  if (rules.length > 0) return { issues, warnings };
  const cache: ColumnCache = new Map();
  for (const policy of resolvePolicies(input)) {
    if (policy.keepForever) continue;
    const found = await checkPolicy(db, policy, cache);
    for (const issue of found.issues) issues.push({ path: joinPath(issue.path), message: issue.message });
    warnings.push(...found.warnings);
  }
  return { issues, warnings };
}

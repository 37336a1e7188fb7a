import type * as z from "zod";
import { parseDuration } from "../../duration.ts";
import type { SqliteTimeForm } from "../../sqlite-time.ts";
import type { FlagUse } from "./flags.ts";
import type { CleanupInput, CleanupSink, SelectionWhere, TimeFormat } from "./options.ts";
import { inputShape } from "./options.ts";
import { authPresetPolicies, PLATFORM_PROTECTED_TABLES, type PresetPolicy, platformPresetPolicies } from "./presets.ts";
import { rawSqlProblem, sameTable } from "./protections.ts";

/** A policy with every default applied, ready to run. */
export interface ResolvedPolicy {
  name: string;
  /** Where the policy sits in the input, for error paths (`policies.2`, `auth.otpCodes`). */
  path: (string | number)[];
  table: string;
  primaryKey: string;
  action: "delete" | "archive" | "dedupe";
  /** Age selection: `column < now - olderThanMs`. */
  age: { column: string; olderThanMs: number } | undefined;
  /** `olderThan` is 0 or null: nothing is removed, the policy is skipped. */
  keepForever: boolean;
  timeFormat: TimeFormat;
  /** SQLite: the form the time columns hold, read from their rows at the run's start (see time-form.ts). */
  sqliteTime?: SqliteTimeForm;
  where: (string | SelectionWhere)[];
  /** Flag columns the selection reads (a preset's used/revoked/published); decided by checkPolicy before a run. */
  flags: FlagUse[];
  archive: { table: string } | { sink: CleanupSink } | undefined;
  dedupe: { key: string[]; keep: "oldest" | "newest"; orderBy: string } | undefined;
  batchSize: number | undefined;
  /** Columns named by a preset's `where`, checked to exist. */
  extraColumns: string[];
  /** Timestamp columns the selection filters on, warned about when they have no index. */
  timeColumns: string[];
}

const DEFAULT_BATCH = 1000;

/** Every policy of the input, presets first, with defaults applied. */
export function resolvePolicies(input: CleanupInput): ResolvedPolicy[] {
  const entries: PresetPolicy[] = [
    ...authPresetPolicies(input.auth),
    ...platformPresetPolicies(input.platform),
    ...(input.policies ?? []).map((policy, index) => ({ path: ["policies", index], policy, flags: [], columns: [], timeColumns: [] })),
  ];
  return entries.map(({ path, policy, flags, columns, timeColumns }) => {
    const olderThanMs = policy.olderThan == null ? undefined : parseDuration(policy.olderThan);
    const keepForever = policy.olderThan === null || olderThanMs === 0;
    const age = policy.column && olderThanMs ? { column: policy.column, olderThanMs } : undefined;
    const primaryKey = policy.primaryKey ?? "id";
    return {
      name: policy.name ?? policy.table,
      path,
      table: policy.table,
      primaryKey,
      action: policy.action ?? "delete",
      age,
      keepForever,
      timeFormat: policy.timeFormat ?? "date",
      where: policy.where === undefined ? [] : [policy.where],
      flags,
      archive: policy.archive,
      dedupe: policy.dedupe
        ? { key: policy.dedupe.key, keep: policy.dedupe.keep ?? "oldest", orderBy: policy.dedupe.orderBy ?? primaryKey }
        : undefined,
      batchSize: policy.batchSize,
      extraColumns: columns,
      timeColumns: age ? [age.column, ...timeColumns] : timeColumns,
    };
  });
}

/** Rows per batch of a policy. */
export function batchSizeOf(policy: ResolvedPolicy, input: CleanupInput): number {
  return policy.batchSize ?? input.batchSize ?? DEFAULT_BATCH;
}

/** The tables no policy may name: the input's own plus the platform preset's (compared with sameTable). */
export function protectedTables(input: CleanupInput): Set<string> {
  const tables = new Set(input.protectedTables ?? []);
  if (input.platform) {
    const fromPreset = input.platform === true ? undefined : input.platform.protectedTables;
    for (const table of fromPreset ?? PLATFORM_PROTECTED_TABLES) tables.add(table);
  }
  return tables;
}

/** One rule broken by an input: where, and what. */
export interface PolicyIssue {
  path: (string | number)[];
  message: string;
}

/** The cross-field rules: required companions, protected tables, retention floors, unique names. */
export function policyIssues(input: CleanupInput): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const guarded = protectedTables(input);
  const floors = Object.entries(input.floors ?? {}).map(([table, floor]) => [table, parseDuration(floor) as number, floor] as const);
  const names = new Set<string>();
  const policies = resolvePolicies(input);
  const raw = input.policies ?? [];
  for (const policy of policies) {
    const at = (...rest: (string | number)[]) => [...policy.path, ...rest];
    const own = policy.path[0] === "policies" ? raw[policy.path[1] as number] : undefined;
    if (names.has(policy.name)) issues.push({ path: at("name"), message: `duplicate policy name "${policy.name}": name each policy` });
    names.add(policy.name);
    const guard = [...guarded].find((table) => sameTable(table, policy.table));
    if (guard !== undefined) {
      const as = guard === policy.table ? "" : ` (as "${guard}")`;
      issues.push({ path: at("table"), message: `table "${policy.table}" is protected${as}: no cleanup policy may touch it` });
    }
    for (const where of policy.where) {
      const problem = typeof where === "string" ? rawSqlProblem(where) : undefined;
      if (problem) issues.push({ path: at("where"), message: problem });
    }
    if (own) {
      if (own.olderThan != null && !own.column) issues.push({ path: at("column"), message: "required with olderThan" });
      if (own.column && own.olderThan === undefined) {
        issues.push({ path: at("olderThan"), message: "required with column (0 or null keeps rows forever)" });
      }
    }
    if (policy.action === "archive" && !policy.archive) issues.push({ path: at("archive"), message: "required when action is 'archive'" });
    if (policy.action !== "archive" && policy.archive) issues.push({ path: at("archive"), message: "only used when action is 'archive'" });
    if (policy.action === "dedupe" && !policy.dedupe) issues.push({ path: at("dedupe"), message: "required when action is 'dedupe'" });
    if (policy.action !== "dedupe" && policy.dedupe) issues.push({ path: at("dedupe"), message: "only used when action is 'dedupe'" });
    if (policy.archive && "table" in policy.archive && policy.archive.table === policy.table) {
      issues.push({ path: at("archive", "table"), message: "must differ from the policy's table" });
    }
    if (policy.action !== "dedupe" && !policy.keepForever && !policy.age && policy.where.length === 0) {
      issues.push({ path: at(), message: "give column + olderThan, or where: a policy matching every row is refused" });
    }
    for (const [table, floorMs, floor] of floors) {
      if (!sameTable(table, policy.table) || policy.keepForever) continue;
      if (!policy.age) {
        issues.push({
          path: at("olderThan"),
          message: `table "${table}" has a minimum retention of ${floor}: the policy needs column + olderThan of at least that`,
        });
      } else if (policy.age.olderThanMs < floorMs) {
        issues.push({ path: at("olderThan"), message: `below the minimum retention of ${floor} for table "${table}"` });
      }
    }
  }
  return issues;
}

/** The task's input schema: the shape, then the cross-field rules, each issue at its field path. */
export const cleanupInputSchema: z.ZodType<CleanupInput> = inputShape.superRefine((input, ctx) => {
  for (const issue of policyIssues(input as CleanupInput)) ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
}) as z.ZodType<CleanupInput>;

import { parseDuration } from "../../duration.ts";
import { TaskError } from "../../errors.ts";
import { defineTask, type TaskDefinition } from "../../task.ts";
import { type ColumnCache, checkCleanupPolicies } from "./check.ts";
import type { CleanupInput, CleanupOptions } from "./options.ts";
import { batchSizeOf, cleanupInputSchema, resolvePolicies } from "./policies.ts";
import { mergeRunInput } from "./run-input.ts";
import { emptyResult, type PolicyResult, runPolicy } from "./run-policy.ts";

/** The stored result of a cleanup run. */
export interface CleanupResult {
  /** Whether this was a dry run, which changed nothing. */
  dryRun: boolean;
  /** Says so when nothing was changed. */
  note?: string;
  /** One result per policy, in the configuration's order. */
  policies: PolicyResult[];
  /** The sums over every policy. */
  totals: {
    /** Rows the policies' selections matched. */
    matched: number;
    /** Rows deleted. */
    deleted: number;
    /** Rows archived. */
    archived: number;
  };
}

/**
 * The built-in `cleanup` task: applies retention policies, deleting, archiving or de-duplicating
 * rows in short per-batch transactions by primary key. Daily at 03:00 by default.
 */
export function cleanupTask(options: CleanupOptions = {}): TaskDefinition<CleanupInput, CleanupResult> {
  const { id, schedule, timezone, ...input } = options;
  return defineTask<CleanupInput, CleanupResult>({
    needsDb: true,
    id: id ?? "cleanup",
    description: "Applies retention policies: deletes, archives or de-duplicates old rows in batches",
    schedule: schedule ?? "0 3 * * *",
    timezone,
    input: cleanupInputSchema,
    defaultInput: input,
    // A run's input may add protected tables and raise floors, never drop or lower them.
    mergeInput: mergeRunInput,
    verify: async ({ db, input: checked, logger }) => {
      if (!db) return [{ path: "", message: "the cleanup task needs the host's database: set db in the configuration" }];
      const { issues, warnings } = await checkCleanupPolicies(db, checked);
      for (const warning of warnings) logger.warn({}, `[upkeep] cleanup: ${warning}`);
      return issues;
    },
    run: async (ctx, taskInput) => {
      const db = ctx.db;
      if (!db) throw new TaskError("the cleanup task needs the host's database: set db in the configuration");
      const policies = resolvePolicies(taskInput);
      if (policies.length === 0) ctx.skip("no retention policies configured");
      const now = ctx.now();
      const pauseMs = parseDuration(taskInput.pause ?? 0) ?? 0;
      const batchTimeMs = parseDuration(taskInput.batchTime ?? "100ms") ?? 0;
      const maxBatchSize = taskInput.maxBatchSize ?? 50_000;
      const concurrency = taskInput.concurrency ?? 2;
      const cache: ColumnCache = new Map();
      const results: PolicyResult[] = [];
      for (const policy of policies) {
        if (ctx.signal.aborted) {
          results.push(emptyResult(policy, "not_started"));
          continue;
        }
        results.push(
          await runPolicy(ctx, policy, {
            db,
            batchSize: batchSizeOf(policy, taskInput),
            batchTimeMs,
            maxBatchSize,
            pauseMs,
            concurrency,
            now,
            cache,
          }),
        );
      }
      const sum = (key: "matched" | "deleted" | "archived") => results.reduce((total, result) => total + result[key], 0);
      const result: CleanupResult = {
        dryRun: ctx.dryRun,
        ...(ctx.dryRun ? { note: "dry run: nothing was changed" } : {}),
        policies: results,
        totals: { matched: sum("matched"), deleted: sum("deleted"), archived: sum("archived") },
      };
      const failed = results.filter((entry) => entry.status === "failed");
      if (failed.length > 0) {
        const list = failed.map((entry) => `${entry.name}: ${entry.error}`).join("; ");
        throw new TaskError(`cleanup: ${failed.length} of ${results.length} policies failed (${list})`, {
          reason: "POLICY_FAILED",
          result,
        });
      }
      return result;
    },
  });
}

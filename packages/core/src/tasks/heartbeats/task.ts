import { dialectOf } from "../../db.ts";
import { TaskError } from "../../errors.ts";
import { defineTask, type TaskDefinition, type TaskEvent } from "../../task.ts";
import { isoTime } from "./iso-time.ts";
import { type HeartbeatsInput, type HeartbeatsOptions, inputSchema } from "./options.ts";
import { type OverdueToken, runHeartbeatPass, timeKinds } from "./pass.ts";
import { TimeColumnError } from "./time-sql.ts";

/** What a heartbeats run stores as its result: counts and ids, nothing secret. */
export interface HeartbeatsResult {
  /** True when the run changed nothing and lists what it would have changed. */
  dryRun: boolean;
  /** Tokens suspended (or, in a dry run, that would be). */
  suspended: number;
  /** Overdue tokens past their expiry, marked expired instead. */
  expired: number;
  /** Ids of the suspended tokens, at most `resultIdLimit`. */
  suspendedIds: Array<string | number>;
  /** Ids of the expired tokens, at most `resultIdLimit`. */
  expiredIds: Array<string | number>;
  /** True when a list was cut at `resultIdLimit`. */
  idsTruncated: boolean;
  /** True when shutdown or timeout stopped the pass between batches; the next pass continues. */
  stopped: boolean;
}

function eventFor(token: OverdueToken, graceMs: number): TaskEvent {
  return {
    type: token.expired ? "agent.expired" : "agent.suspended",
    security: true,
    severity: token.expired ? "info" : "warning",
    data: {
      tokenId: token.id,
      reason: token.expired ? "EXPIRED" : "HEARTBEAT_MISSING",
      lateMs: token.lateMs,
      dueAt: isoTime(token.dueAt.getTime()),
      lastHeartbeatAt: token.lastHeartbeatAt === null ? null : isoTime(token.lastHeartbeatAt.getTime()),
      periodSeconds: token.periodSeconds,
      graceMs,
    },
  };
}

/**
 * The built-in `heartbeats` task: every minute, suspends the host's agent tokens whose heartbeat is
 * overdue (`SUSPENDED`, reason `HEARTBEAT_MISSING`), or marks them `EXPIRED` when already past their
 * expiry, with one compare-and-set statement per batch. Writes a `security` event per token
 * (`agent.suspended` / `agent.expired`) in the batch's transaction, logs one warning with the count,
 * and never reactivates a token.
 */
export function heartbeatsTask(options: HeartbeatsOptions = {}): TaskDefinition<HeartbeatsInput, HeartbeatsResult> {
  const { id, schedule, timezone, ...input } = options;
  return defineTask<HeartbeatsInput, HeartbeatsResult>({
    needsDb: true,
    id: id ?? "heartbeats",
    description: "Suspends agent tokens whose heartbeat is overdue",
    schedule: schedule ?? "* * * * *",
    timezone,
    input: inputSchema,
    defaultInput: input,
    timeout: "5m",
    retry: { retries: 2, delay: "2s" },
    // At start(): a time column the pass could not read (missing, mistyped, or on SQLite holding
    // times in several forms) is reported naming its option; each pass checks again.
    verify: async ({ db, input }) => {
      if (!db) return [];
      try {
        await timeKinds(db, dialectOf(db), input);
        return [];
      } catch (error) {
        if (error instanceof TimeColumnError)
          return [{ path: error.field, message: error.message.replace(/^\[upkeep\] heartbeats: /, "") }];
        throw error;
      }
    },
    run: async (ctx, input) => {
      const db = ctx.db;
      if (!db) throw new TaskError("heartbeats needs the host's database: set `db` in the configuration");
      const now = ctx.now();
      let done = 0;
      const { tokens, stopped } = await runHeartbeatPass(db, input, {
        now,
        dryRun: ctx.dryRun,
        signal: ctx.signal,
        inTransaction: (batch, trx) =>
          ctx.emit(
            batch.map((token) => eventFor(token, input.grace)),
            { trx },
          ),
        onBatch: (batch) => {
          done += batch.length;
          ctx.progress({ done, unit: "tokens" });
        },
      });
      // Counts stay exact; the id lists stop at the cap.
      const limit = input.resultIdLimit;
      const suspendedIds: Array<string | number> = [];
      const expiredIds: Array<string | number> = [];
      let suspended = 0;
      let expired = 0;
      for (const token of tokens) {
        if (token.expired) {
          if (expired++ < limit) expiredIds.push(token.id);
        } else if (suspended++ < limit) suspendedIds.push(token.id);
      }
      if (ctx.dryRun) {
        ctx.logger.info({ suspended, expired }, "[upkeep] heartbeats dry run: nothing changed");
      } else if (tokens.length > 0) {
        ctx.logger.warn({ suspended, expired }, `[upkeep] heartbeats: suspended ${suspended} agent token(s) with an overdue heartbeat`);
      }
      return {
        dryRun: ctx.dryRun,
        suspended,
        expired,
        suspendedIds,
        expiredIds,
        idsTruncated: suspended > limit || expired > limit,
        stopped,
      };
    },
  });
}

import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Knex } from "knex";
import type { UpkeepCrypto } from "./crypto/crypto.ts";
import { errorMessage, TaskError, UpkeepError } from "./errors.ts";
import type { Emitter } from "./events.ts";
import { childLogger, type Logger } from "./logger.ts";
import { type Outbox, RunEvents } from "./outbox.ts";
import type { Schedule } from "./schedule.ts";
import type { NewRun, RunOutcome, RunRecord, RunStore } from "./store/types.ts";
import type { AnyTaskDefinition, EmitOptions, RunTrigger, TaskContext, TaskEvent } from "./task.ts";
import { withRunSpan } from "./tracing.ts";

/** A task as registered: its definition, its validated input and its resolved schedule. */
export interface RegisteredTask {
  readonly definition: AnyTaskDefinition;
  readonly input: unknown;
  readonly schedule: Schedule;
  readonly enabled: boolean;
  readonly timeoutMs: number;
  readonly overlap: AnyTaskDefinition["overlap"];
  readonly catchUp: boolean;
  /** The configured grace before the task is `late`; undefined for the default. */
  readonly graceMs?: number;
}

export interface ExecuteOptions {
  trigger: RunTrigger;
  /** The tick served; derived from the schedule and the clock when absent. */
  scheduledFor?: Date;
  input?: unknown;
  dryRun?: boolean;
}

export interface RunnerOptions {
  store: RunStore;
  logger: Logger;
  emitter: Emitter;
  clock: () => Date;
  db: Knex | undefined;
  /** The configuration's table prefix, passed to tasks that own upkeep tables. */
  tablePrefix: string;
  /** The configuration's `upkeep.crypto`, made on first use; undefined without `crypto` and `db`. */
  crypto: () => UpkeepCrypto | undefined;
  leaseMs: number;
  /** How long to wait for a task that ignores its aborted signal before recording the outcome. */
  abortGraceMs: number;
  /** Finished runs older than this are pruned from the history (0 keeps everything). */
  historyRetentionMs: number;
  /** Writes, delivers and sweeps the events tasks emit. */
  outbox: Outbox;
  /** Delivered events older than this are pruned from the outbox (0 keeps everything). */
  eventRetentionMs: number;
}

/** Thrown by `ctx.skip(reason)`: ends the run as `skipped`. */
class SkipSignal {
  constructor(readonly reason: string) {}
}

type AbortReason = "timeout" | "shutdown";

const RESULT_LIMIT = 256 * 1024;
const PRUNE_EVERY_MS = 3_600_000;
/** Most runs one sweep statement marks abandoned; a larger backlog goes over the next sweeps. */
const SWEEP_LIMIT = 500;

/** How a run ended, as `#finish` records it. `error` is present only when something was thrown. */
interface RunEnd {
  status: RunOutcome["status"];
  attempt: number;
  reason?: string;
  result?: unknown;
  started?: number;
  error?: unknown;
}

const bigintAsString = (_key: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

/** JSON of `value`, bigints as strings; the replacer (slow) only for a value that has one. */
function stringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof TypeError) return JSON.stringify(value, bigintAsString);
    throw error;
  }
}

function serialiseResult(value: unknown): string | null {
  if (value === undefined) return null;
  const text = stringify(value);
  if (text === undefined) return null;
  if (text.length <= RESULT_LIMIT) return text;
  return JSON.stringify({ truncated: true, bytes: text.length });
}

function reasonOf(signal: AbortSignal): AbortReason | undefined {
  if (!signal.aborted) return undefined;
  return signal.reason === "timeout" ? "timeout" : "shutdown";
}

/**
 * The one pipeline every adapter feeds: claim the tick (with the overlap check in the same
 * statement), run under a renewed lease with a timeout and retries, record the outcome (the first
 * one wins), tell the listeners. Two statements a run; expired leases of every task are swept
 * apart from the runs, at most once a lease length.
 */
export class Runner {
  readonly #options: RunnerOptions;
  readonly #inflight = new Map<string, { controller: AbortController; done: Promise<unknown> }>();
  readonly #host = hostname();
  #stopping = false;
  /** Aborted at the end of shutdown: event deliveries and the outbox sweep stop waiting on targets. */
  readonly #outboxAbort = new AbortController();
  #lastPrune = 0;
  #lastSweep = 0;
  #sweeping: Promise<void> | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: RunnerOptions) {
    this.#options = options;
  }

  get #deliverySignal(): AbortSignal {
    return this.#outboxAbort.signal;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Runs one tick of a task through the whole pipeline. Resolves with the run, or undefined when stopping or no tick applies. */
  async execute(task: RegisteredTask, options: ExecuteOptions): Promise<RunRecord | undefined> {
    if (this.#stopping) return undefined;
    const { clock } = this.#options;
    const now = clock();
    const scheduledFor = options.scheduledFor ?? (options.trigger === "manual" ? now : task.schedule.tickAt(now));
    if (!scheduledFor) return undefined;
    const claim: NewRun = {
      id: randomUUID(),
      taskId: task.definition.id,
      scheduledFor,
      trigger: options.trigger,
      dryRun: options.dryRun ?? false,
      claimedAt: now,
      leaseUntil: new Date(now.getTime() + this.#options.leaseMs),
      host: this.#host,
      pid: process.pid,
    };
    // In flight from before the claim: a stop() that lands while the claim is on its way aborts it too.
    const controller = new AbortController();
    const done = this.#claimAndRun(task, claim, options, controller);
    this.#inflight.set(claim.id, { controller, done });
    try {
      return await done;
    } finally {
      this.#inflight.delete(claim.id);
      this.#maybeSweep();
      this.#maybePrune();
    }
  }

  async #claimAndRun(
    task: RegisteredTask,
    claim: NewRun,
    options: ExecuteOptions,
    controller: AbortController,
  ): Promise<RunRecord | undefined> {
    const { store, emitter, logger } = this.#options;
    // A scheduled or catch-up tick of a paused task is not claimed, in the claim statement itself.
    const claimed = await store.claim(claim, { overlap: task.overlap });
    if (!claimed.claimed) {
      const log = childLogger(logger, { taskId: claim.taskId });
      if (claimed.paused) {
        log.info({ reason: claimed.paused.reason }, "[upkeep] tick not run: the task is paused");
        return undefined;
      }
      log.debug({ scheduledFor: claim.scheduledFor.toISOString() }, "[upkeep] tick already claimed elsewhere");
      return claimed.existing;
    }
    const run = claimed.run;
    // The run's one child logger, with both ids bound: every line of the run, its finish included.
    const log = childLogger(logger, { taskId: run.taskId, runId: run.id });
    if (run.status === "skipped") {
      log.info({}, "[upkeep] run skipped: the previous run is still going");
      emitter.emit("run:skipped", { run });
      return run;
    }
    if (controller.signal.aborted) {
      return this.#finish(
        run,
        log,
        { status: "interrupted", reason: "shutdown: stop began while the run was being claimed", attempt: 1 },
        (ended) => {
          log.warn({}, "[upkeep] run interrupted by shutdown before it started");
          emitter.emit("run:failure", { run: ended });
        },
      );
    }
    return withRunSpan(run, () => this.#run(task, run, options, controller, log));
  }

  async #run(
    task: RegisteredTask,
    claimed: RunRecord,
    options: ExecuteOptions,
    controller: AbortController,
    log: Logger,
  ): Promise<RunRecord> {
    const { store, clock, emitter, leaseMs } = this.#options;
    const definition = task.definition;
    const input = options.input ?? task.input;
    const started = performance.now();
    let run = claimed;
    let finishing = false;

    const renew = setInterval(
      () => {
        store.renewLease(run.id, new Date(clock().getTime() + leaseMs)).then(
          (held) => {
            // A renewal that crossed this run's own finish is no loss.
            if (!held && !finishing) log.warn({}, "[upkeep] lease lost: the run was finished or marked abandoned elsewhere");
          },
          (error: unknown) => log.warn({ err: error }, "[upkeep] lease renewal failed"),
        );
      },
      Math.max(10, Math.floor(leaseMs / 3)),
    );
    renew.unref();
    /** The run's events, made on its first emit: most runs emit none. */
    let deliveries: RunEvents | undefined;
    const events = () => {
      deliveries ??= new RunEvents(this.#options.outbox, log, this.#deliverySignal);
      return deliveries;
    };
    /** Records the outcome (if it is the first) once the run's events are delivered (or left to the sweep), and tells the listeners through `tell`. */
    const end = async (outcome: RunEnd, tell: (ended: RunRecord) => void) => {
      finishing = true;
      clearInterval(renew);
      if (deliveries) await deliveries.settled();
      return this.#finish(run, log, outcome, tell);
    };

    emitter.emit("run:start", { run });
    log.info({ trigger: run.trigger, scheduledFor: run.scheduledFor.toISOString(), dryRun: run.dryRun }, "[upkeep] run started");

    let attempt = 1;
    try {
      for (;;) {
        // One signal for the run: a timeout ends the run (it is never retried), so the attempt's
        // timer aborts the same controller as shutdown; the first reason stays.
        const signal = controller.signal;
        const timer = setTimeout(() => controller.abort("timeout"), task.timeoutMs);
        timer.unref();
        const ctx = this.#context(task, run, attempt, signal, log, options, events);
        /** Records a run its signal stopped: timed out, or interrupted by shutdown. */
        const stopped = (aborted: AbortReason, outcome: { result: unknown } | { thrown: unknown }) => {
          const timedOut = aborted === "timeout";
          const kept = "result" in outcome ? { result: outcome.result } : timedOut ? { error: outcome.thrown } : {};
          return end({ status: timedOut ? "timed_out" : "interrupted", reason: aborted, attempt, started, ...kept }, (ended) => {
            log.warn({ reason: aborted }, timedOut ? "[upkeep] run timed out" : "[upkeep] run interrupted by shutdown");
            emitter.emit("run:failure", "thrown" in outcome ? { run: ended, error: outcome.thrown } : { run: ended });
          });
        };
        try {
          const result = await this.#settle(definition.run(ctx, input), signal);
          const aborted = reasonOf(signal);
          // The task returned after its signal fired: keep what it reports; the status says why it stopped.
          if (aborted) return await stopped(aborted, { result });
          return await end({ status: "succeeded", attempt, result, started }, (ended) => {
            log.info({ durationMs: ended.durationMs }, "[upkeep] run succeeded");
            emitter.emit("run:success", { run: ended });
          });
        } catch (error) {
          if (error instanceof SkipSignal) {
            return await end({ status: "skipped", reason: error.reason, attempt, started }, (ended) => {
              log.info({ reason: error.reason }, "[upkeep] run skipped");
              emitter.emit("run:skipped", { run: ended });
            });
          }
          const aborted = reasonOf(signal);
          if (aborted) return await stopped(aborted, { thrown: error });
          const retryable = error instanceof TaskError && error.retryable;
          if (retryable && attempt <= definition.retry.retries) {
            const delay = this.#backoff(task, attempt);
            log.warn({ attempt, delayMs: delay, err: error }, "[upkeep] attempt failed, retrying");
            try {
              await sleep(delay, undefined, { signal: controller.signal });
            } catch {
              return await end({ status: "interrupted", reason: "shutdown", attempt, started, error }, (ended) => {
                emitter.emit("run:failure", { run: ended, error });
              });
            }
            attempt++;
            await store.setAttempt(run.id, attempt);
            run = { ...run, attempt };
            continue;
          }
          const result = error instanceof TaskError ? error.result : undefined;
          return await end({ status: "failed", attempt, started, error, result }, (ended) => {
            log.error({ err: error, attempt }, "[upkeep] run failed");
            emitter.emit("run:failure", { run: ended, error });
          });
        } finally {
          clearTimeout(timer);
        }
      }
    } finally {
      clearInterval(renew);
    }
  }

  /** Waits for the task; once its signal aborts, waits at most the grace period more. */
  async #settle<T>(work: Promise<T> | T, signal: AbortSignal): Promise<T | undefined> {
    const task = Promise.resolve(work);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const gaveUp = new Promise<undefined>((resolve) => {
      onAbort = () => {
        timer = setTimeout(() => resolve(undefined), this.#options.abortGraceMs);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([task, gaveUp]);
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) signal.removeEventListener("abort", onAbort);
      task.catch(() => {});
    }
  }

  #backoff(task: RegisteredTask, attempt: number): number {
    const { delayMs, maxDelayMs, backoff } = task.definition.retry;
    return Math.min(maxDelayMs, backoff === "fixed" ? delayMs : delayMs * 2 ** (attempt - 1));
  }

  #context(
    task: RegisteredTask,
    run: RunRecord,
    attempt: number,
    signal: AbortSignal,
    logger: Logger,
    options: ExecuteOptions,
    events: () => RunEvents,
  ): TaskContext {
    const { clock, emitter, db, tablePrefix, crypto } = this.#options;
    const dryRun = options.dryRun ?? false;
    return {
      runId: run.id,
      taskId: run.taskId,
      scheduledFor: run.scheduledFor,
      trigger: run.trigger,
      attempt,
      signal,
      logger,
      dryRun,
      db,
      tablePrefix,
      crypto: crypto(),
      timezone: task.schedule.timezone,
      now: clock,
      progress: (progress) => emitter.emit("run:progress", { run, progress }),
      emit: ((event: TaskEvent | readonly TaskEvent[], emitOptions?: EmitOptions): Promise<void> | undefined => {
        if (dryRun) return emitOptions ? Promise.resolve() : undefined;
        return events().emit(run, Array.isArray(event) ? event : [event as TaskEvent], emitOptions?.trx);
      }) as TaskContext["emit"],
      skip: (reason: string): never => {
        throw new SkipSignal(reason);
      },
    };
  }

  /**
   * Records the outcome with a compare-and-set on `running`: the first outcome wins. When another
   * was recorded first (stop()'s timeout recorded `interrupted`, a sweep found the lease expired),
   * that one stays and is returned, and `tell` is not called: listeners hear of one outcome a run.
   */
  async #finish(run: RunRecord, log: Logger, end: RunEnd, tell: (ended: RunRecord) => void): Promise<RunRecord> {
    const thrown = "error" in end;
    const error = end.error;
    const outcome: RunOutcome = {
      status: end.status,
      finishedAt: this.#options.clock(),
      attempt: end.attempt,
      durationMs: end.started === undefined ? null : Math.round(performance.now() - end.started),
      result: serialiseResult(end.result),
      reason: end.reason ?? (error instanceof TaskError ? (error.reason ?? null) : error instanceof UpkeepError ? error.code : null),
      errorMessage: thrown ? errorMessage(error) : null,
      errorStack: error instanceof Error ? (error.stack ?? null) : null,
    };
    if (!(await this.#options.store.finish(run.id, outcome))) {
      const stored = await this.#options.store.get(run.id);
      log.info({ status: outcome.status, recorded: stored?.status }, "[upkeep] the run already had an outcome, which stays");
      return stored ?? run;
    }
    const ended: RunRecord = { ...run, ...outcome, result: outcome.result === null ? null : JSON.parse(outcome.result), leaseUntil: null };
    tell(ended);
    return ended;
  }

  /**
   * Marks expired leases of every task `abandoned`, at most once a lease length: from the periodic
   * timer of a started instance, and after runs (so a process that only runs, such as a crontab
   * line's `upkeep run`, sweeps too). Never on the claim's path.
   */
  #maybeSweep(): void {
    const { leaseMs, clock, store, logger } = this.#options;
    const now = clock();
    if (this.#stopping || this.#sweeping || now.getTime() - this.#lastSweep < leaseMs) return;
    this.#lastSweep = now.getTime();
    const abandoned = store.abandonExpired(now, SWEEP_LIMIT).then(
      (marked) => {
        if (marked > 0)
          logger.warn({ abandoned: marked }, "[upkeep] runs abandoned: their lease expired without an outcome (their process died?)");
      },
      (error: unknown) => logger.warn({ err: error }, "[upkeep] abandoned-run sweep failed"),
    );
    // Events a dead writer left pending go out in the same sweep.
    const events = this.sweepEvents().catch((error: unknown) => logger.warn({ err: error }, "[upkeep] event sweep failed"));
    this.#sweeping = Promise.all([abandoned, events])
      .then(() => undefined)
      .finally(() => {
        this.#sweeping = undefined;
      });
  }

  /** Delivers the pending events whose lease ended (their writer died), as the periodic sweep does. */
  sweepEvents(): Promise<number> {
    return this.#options.outbox.sweep(this.#deliverySignal);
  }

  /** Starts the periodic abandoned-run sweep (once a lease length); `shutdown` ends it. */
  startSweeping(): void {
    if (this.#sweepTimer || this.#stopping) return;
    this.#maybeSweep();
    this.#sweepTimer = setInterval(() => this.#maybeSweep(), this.#options.leaseMs);
    this.#sweepTimer.unref();
  }

  #maybePrune(): void {
    const { historyRetentionMs, eventRetentionMs, clock, store, outbox, logger: log } = this.#options;
    const now = clock().getTime();
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    if (historyRetentionMs > 0) {
      store.prune(new Date(now - historyRetentionMs)).then(
        (removed) => {
          if (removed > 0) log.debug({ removed }, "[upkeep] pruned old run history");
        },
        (error: unknown) => log.warn({ err: error }, "[upkeep] pruning run history failed"),
      );
    }
    if (eventRetentionMs > 0) {
      outbox.prune(new Date(now - eventRetentionMs)).then(
        (removed) => {
          if (removed > 0) log.debug({ removed }, "[upkeep] pruned old delivered events");
        },
        (error: unknown) => log.warn({ err: error }, "[upkeep] pruning events failed"),
      );
    }
  }

  /**
   * Stops accepting runs, aborts those in flight with reason `shutdown` (a claim on its way is
   * aborted too and records `interrupted` at once), and waits up to `timeoutMs`. Records what is
   * still running `interrupted` and returns those ids.
   */
  async shutdown(timeoutMs: number): Promise<string[]> {
    this.#stopping = true;
    clearInterval(this.#sweepTimer);
    const inflight = [...this.#inflight.entries()];
    for (const [, entry] of inflight) entry.controller.abort("shutdown");
    const all = Promise.allSettled(inflight.map(([, entry]) => entry.done));
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), timeoutMs).unref());
    await Promise.race([all, timer]);
    const left: string[] = [];
    for (const runId of this.#inflight.keys()) {
      const recorded = await this.#options.store.finish(runId, {
        status: "interrupted",
        finishedAt: this.#options.clock(),
        attempt: 1,
        durationMs: null,
        result: null,
        reason: "shutdown: did not finish within the stop timeout",
        errorMessage: null,
        errorStack: null,
      });
      if (recorded) left.push(runId);
    }
    this.#outboxAbort.abort("shutdown");
    await this.#sweeping;
    return left;
  }

  /** Runs still in flight in this process. */
  get inflight(): number {
    return this.#inflight.size;
  }
}

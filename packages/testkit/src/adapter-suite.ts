import { randomBytes } from "node:crypto";
import {
  type Adapter,
  createSchedule,
  defineTask,
  registerTasks,
  SECOND_TICKS,
  silentLogger,
  type TaskContext,
  type TaskEntry,
  type Upkeep,
  type UpkeepConfig,
} from "@upkeep/core";
import type { Knex } from "knex";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type Dialect, probeDialects, type TestDatabase } from "./databases.ts";
import { type OracleRun, type RunOracle, runOracle } from "./run-oracle.ts";

/** The behaviours the suite checks; an adapter may opt out of one with a reason. */
export type AdapterCase = "fires" | "cluster" | "overlap" | "errors" | "stop" | "unschedule" | "redeploy" | "removed" | "manual";

/** What `createAdapter` and `cleanup` receive. */
export interface AdapterSuiteContext {
  /**
   * Unique per test, shared by every host of that test: an adapter that keeps state outside the
   * process (a BullMQ key prefix, a crontab file) keys it on this, so hosts of one test meet and
   * tests never do.
   */
  namespace: string;
}

/** Options of `testAdapter`. */
export interface TestAdapterOptions {
  /** Shown in the suite's name. */
  name: string;
  /** Makes a fresh adapter; called once per host, so a test with two hosts calls it twice. */
  createAdapter(context: AdapterSuiteContext): Adapter | Promise<Adapter>;
  /** Removes what the adapter left outside the process for a namespace (Redis keys, files), after each test. */
  cleanup?(context: AdapterSuiteContext): void | Promise<void>;
  /**
   * For adapters that fire nothing by themselves (system cron): what the outside scheduler does
   * when it wakes, such as `(upkeep, now) => tick(upkeep, now)`. The suite calls it four times a
   * second on every host, as cron starts the crontab line every minute.
   */
  drive?(upkeep: Upkeep, now: Date): Promise<unknown>;
  /**
   * Databases the run history lives in, each a fresh throwaway database.
   * @default ["sqlite", "postgres"]
   */
  dialects?: readonly Dialect[];
  /** Cases the adapter cannot honour, each with the reason (shown in the skipped test's name). */
  skip?: Partial<Record<AdapterCase, string>>;
  /**
   * How long to wait for the ticks a test expects.
   * @default 20000
   */
  waitMs?: number;
}

const EVERY_SECOND = "* * * * * *";

function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

function untilAborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The hour of `at` in `timezone`, 0–23. */
function hourIn(timezone: string, at: Date): number {
  const text = new Intl.DateTimeFormat("en-GB", { timeZone: timezone, hour: "2-digit", hourCycle: "h23" }).format(at);
  return Number(text);
}

/** Counts executions per tick, so a test can tell "ran once" from "recorded once". */
function counter() {
  const ticks = new Map<number, number>();
  return {
    count(ctx: TaskContext) {
      const key = ctx.scheduledFor.getTime();
      ticks.set(key, (ticks.get(key) ?? 0) + 1);
    },
    get total() {
      return [...ticks.values()].reduce((sum, n) => sum + n, 0);
    },
    get ticks(): ReadonlyMap<number, number> {
      return ticks;
    },
  };
}

const task = (id: string, run: (ctx: TaskContext) => unknown, extra: Partial<TaskEntry> = {}): TaskEntry => ({
  task: defineTask({ id, schedule: "* * * * *", run: async (ctx) => run(ctx) }),
  schedule: EVERY_SECOND,
  ...extra,
});

const finished = (runs: OracleRun[], status = "succeeded") => runs.filter((run) => run.status === status);

/**
 * Registers the adapter conformance suite with vitest: for each dialect, a `describe` whose tests
 * start real hosts (`registerTasks` with the adapter) and check what they did in the runs table
 * directly. Ticks are one second apart (seconds patterns, reachable only from here), so the suite
 * takes a few seconds per test.
 *
 * ```ts
 * testAdapter({ name: "croner", createAdapter: () => cronerAdapter() });
 * ```
 */
export function testAdapter(options: TestAdapterOptions): void {
  const dialects = options.dialects ?? ["sqlite", "postgres"];
  const waitMs = options.waitMs ?? 20_000;
  const timeout = waitMs * 2 + 30_000;
  const poll = { timeout: waitMs, interval: 100 };

  describe(`adapter conformance: ${options.name}`, async () => {
    const statuses = await probeDialects(dialects);
    for (const { dialect, available } of statuses) {
      describe.skipIf(!available)(`on ${dialect}`, () => {
        let database: TestDatabase;
        let tests = 0;
        let context: { namespace: string; prefix: string; hosts: Array<() => Promise<void>> };

        beforeAll(async () => {
          database = await createTestDatabase(dialect);
        });
        afterAll(async () => {
          await database?.destroy();
        });
        afterEach(async () => {
          if (!context) return;
          for (const stop of context.hosts) await stop();
          await options.cleanup?.({ namespace: context.namespace });
        });

        /** A fresh namespace and table prefix for one test, shared by its hosts. */
        function begin(): { oracle: RunOracle } {
          tests++;
          context = { namespace: `upk${randomBytes(4).toString("hex")}`, prefix: `c${tests}_`, hosts: [] };
          return { oracle: runOracle(database.knex, context.prefix) };
        }

        /** One host process: its own adapter and knex instance, sharing the test's database and namespace. */
        async function host(tasks: TaskEntry[], db: Knex = database.connect()) {
          const adapter = await options.createAdapter({ namespace: context.namespace });
          const config: UpkeepConfig = Object.assign(
            { tasks, db, tablePrefix: context.prefix, logger: silentLogger, abortGrace: 200, lease: "10s" } satisfies UpkeepConfig,
            { [SECOND_TICKS]: true },
          );
          const upkeep = registerTasks(adapter, config);
          await upkeep.start();
          let driver: NodeJS.Timeout | undefined;
          if (options.drive) {
            const drive = options.drive;
            driver = setInterval(() => {
              drive(upkeep, new Date()).catch(() => {});
            }, 250);
          }
          const stop = async (stopOptions: { timeout?: number } = {}) => {
            if (driver) clearInterval(driver);
            driver = undefined;
            await upkeep.stop({ timeout: stopOptions.timeout ?? 5000 });
          };
          context.hosts.push(() => stop());
          return { adapter, upkeep, stop };
        }

        const check = (name: AdapterCase, title: string, body: () => Promise<void>) => {
          const reason = options.skip?.[name];
          it.skipIf(reason !== undefined)(reason === undefined ? title : `${title} (skipped: ${reason})`, body, timeout);
        };

        check("fires", "fires a task at its ticks in its timezone, at the times the core computes", async () => {
          const { oracle } = begin();
          const zone = "Asia/Kathmandu";
          const now = new Date();
          const hour = hourIn(zone, now);
          // The task's hour field names the current hour in Kathmandu (and the next, so an hour
          // boundary during the test does not matter). The same pattern read in UTC never matches
          // now: UTC is 5:45 behind.
          const pattern = `* * ${hour},${(hour + 1) % 24} * * *`;
          await host([task("local", () => {}, { schedule: pattern, timezone: zone }), task("utc", () => {}, { schedule: pattern })]);
          await expect.poll(async () => finished(await oracle.runs("local")).length, poll).toBeGreaterThanOrEqual(3);
          const schedule = createSchedule(pattern, zone, { seconds: true });
          for (const run of await oracle.runs("local")) {
            expect(run.trigger).toBe("schedule");
            expect(schedule.next(new Date(run.scheduledFor - 1))?.getTime()).toBe(run.scheduledFor);
          }
          expect(await oracle.runs("utc")).toEqual([]);
        });

        check("cluster", "runs each tick exactly once when two hosts share the database", async () => {
          const { oracle } = begin();
          const seen = counter();
          const tasks = [task("shared", (ctx) => seen.count(ctx))];
          const a = await host(tasks);
          const b = await host(tasks);
          await expect.poll(async () => finished(await oracle.runs("shared")).length, poll).toBeGreaterThanOrEqual(4);
          await a.stop();
          await b.stop();
          const runs = await oracle.runs("shared");
          expect(await oracle.duplicateTicks()).toEqual([]);
          expect([...seen.ticks.values()].every((n) => n === 1)).toBe(true);
          expect(seen.total).toBe(finished(runs).length);
        });

        check("overlap", "records a tick that comes while the previous run goes on as skipped, not run twice", async () => {
          const { oracle } = begin();
          const held = gate();
          const seen = counter();
          await host([
            task("slow", async (ctx) => {
              seen.count(ctx);
              await held.opened;
            }),
          ]);
          await expect.poll(async () => finished(await oracle.runs("slow"), "skipped").length, poll).toBeGreaterThanOrEqual(1);
          expect(seen.total).toBe(1);
          held.open();
          await expect.poll(async () => finished(await oracle.runs("slow")).length, poll).toBeGreaterThanOrEqual(1);
          const [first] = await oracle.runs("slow");
          expect(first?.status).toBe("succeeded");
        });

        check("errors", "records a throwing task as failed and keeps firing the other tasks", async () => {
          const { oracle } = begin();
          await host([
            task("boom", () => {
              throw new Error("boom");
            }),
            task("steady", () => {}),
          ]);
          await expect.poll(async () => finished(await oracle.runs("boom"), "failed").length, poll).toBeGreaterThanOrEqual(2);
          const failedAt = (await oracle.runs("boom"))[0]?.scheduledFor ?? 0;
          await expect
            .poll(async () => finished(await oracle.runs("steady")).filter((run) => run.scheduledFor > failedAt).length, poll)
            .toBeGreaterThanOrEqual(2);
        });

        check("stop", "stop({ timeout }) stops new runs, aborts the running one and records it interrupted", async () => {
          const { oracle } = begin();
          let reason: unknown;
          let started = 0;
          const { stop } = await host([
            task("cooperative", async (ctx) => {
              started++;
              reason = await untilAborted(ctx.signal);
            }),
            // Ignores its signal for ever: stop must still return, at its timeout.
            task("stubborn", async () => {
              await new Promise(() => {});
            }),
          ]);
          await expect.poll(() => started, poll).toBeGreaterThanOrEqual(1);
          await expect.poll(async () => (await oracle.runs("stubborn")).length, poll).toBeGreaterThanOrEqual(1);
          await stop({ timeout: 1000 });
          expect(reason).toBe("shutdown");
          const runs = await oracle.runs();
          expect(runs.filter((run) => run.status === "running")).toEqual([]);
          expect(finished(await oracle.runs("cooperative"), "interrupted")).toHaveLength(1);
          expect(finished(await oracle.runs("stubborn"), "interrupted")).toHaveLength(1);
          await pause(2500);
          expect(await oracle.runs()).toHaveLength(runs.length);
        });

        check("unschedule", "unschedule(id) stops that task firing while the others go on", async () => {
          const { oracle } = begin();
          const { adapter } = await host([task("gone", () => {}), task("stays", () => {})]);
          await expect.poll(async () => finished(await oracle.runs("gone")).length, poll).toBeGreaterThanOrEqual(1);
          await adapter.unschedule("gone");
          // A tick already being claimed when unschedule returned may still land; nothing after it.
          const cut = Date.now() + 1000;
          await expect
            .poll(async () => (await oracle.runs("stays")).filter((run) => run.scheduledFor > cut).length, poll)
            .toBeGreaterThanOrEqual(3);
          expect((await oracle.runs("gone")).filter((run) => run.scheduledFor > cut)).toEqual([]);
        });

        check("redeploy", "registering the same task set again (a redeploy) duplicates no runs", async () => {
          const { oracle } = begin();
          const seen = counter();
          const tasks = [task("steady", (ctx) => seen.count(ctx))];
          const first = await host(tasks);
          await expect.poll(async () => finished(await oracle.runs("steady")).length, poll).toBeGreaterThanOrEqual(2);
          await first.stop();
          const before = (await oracle.runs("steady")).length;
          const second = await host(tasks);
          await expect.poll(async () => (await oracle.runs("steady")).length, poll).toBeGreaterThanOrEqual(before + 3);
          await second.stop();
          expect(await oracle.duplicateTicks()).toEqual([]);
          expect([...seen.ticks.values()].every((n) => n === 1)).toBe(true);
          expect(seen.total).toBe(finished(await oracle.runs("steady")).length);
        });

        check("removed", "a task removed from the configuration stops firing after the redeploy", async () => {
          const { oracle } = begin();
          const first = await host([task("keep", () => {}), task("dropped", () => {})]);
          await expect.poll(async () => finished(await oracle.runs("dropped")).length, poll).toBeGreaterThanOrEqual(1);
          await first.stop();
          const redeployed = Date.now();
          await host([task("keep", () => {})]);
          await expect
            .poll(async () => (await oracle.runs("keep")).filter((run) => run.scheduledFor > redeployed).length, poll)
            .toBeGreaterThanOrEqual(3);
          expect((await oracle.runs("dropped")).filter((run) => run.scheduledFor > redeployed)).toEqual([]);
        });

        check("manual", "upkeep.run(id) runs the task while its schedule is live", async () => {
          const { oracle } = begin();
          const { upkeep } = await host([task("live", () => ({ ok: true }))]);
          await expect.poll(async () => finished(await oracle.runs("live")).length, poll).toBeGreaterThanOrEqual(1);
          const run = await upkeep.run("live");
          expect(run.status).toBe("succeeded");
          expect(run.result).toEqual({ ok: true });
          const manual = (await oracle.runs("live")).filter((row) => row.trigger === "manual");
          expect(manual.map((row) => row.status)).toEqual(["succeeded"]);
          await expect.poll(async () => finished(await oracle.runs("live")).length, poll).toBeGreaterThanOrEqual(3);
        });
      });
    }
  });
}

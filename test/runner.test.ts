import {
  ConfigError,
  defineConfig,
  defineTask,
  knexStore,
  type Logger,
  manualAdapter,
  type RunOutcome,
  type RunRecord,
  type RunStore,
  registerTasks,
  silentLogger,
  type TaskContext,
  TaskError,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as z from "zod";
import { killHard, startFixture, untilOutput } from "./fixtures/child.ts";

const T0 = new Date("2026-01-01T00:00:00Z");
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

/** A promise with its resolve, to hold a task in flight until the test lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/** A task that counts its executions and takes `ms` to finish each. */
function countedTask(id: string, ms: number) {
  const counter = { executions: 0 };
  const task = defineTask({
    id,
    schedule: "* * * * *",
    run: async () => {
      counter.executions++;
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { ok: true };
    },
  });
  return { task, counter };
}

function untilAborted(signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(String(signal.reason)), { once: true }));
}

let prefixes = 0;
const freshPrefix = () => `r${++prefixes}_`;

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`runner on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    function host(
      tasks: Parameters<typeof registerTasks>[1]["tasks"],
      options: { db?: Knex; prefix: string; clock?: () => Date; lease?: string | number; store?: RunStore; logger?: Logger },
    ) {
      const adapter = manualAdapter();
      const upkeep = registerTasks(adapter, {
        tasks,
        db: options.db ?? database.knex,
        store: options.store,
        tablePrefix: options.prefix,
        logger: options.logger ?? silentLogger,
        clock: options.clock,
        lease: (options.lease ?? "30s") as "30s",
        abortGrace: 200,
      });
      return { adapter, upkeep };
    }

    it("runs a tick once when two hosts race for it", async () => {
      const prefix = freshPrefix();
      const { task, counter } = countedTask("race", 50);
      const a = host([task], { prefix });
      const b = host([task], { prefix, db: database.connect() });
      await a.upkeep.start();
      await b.upkeep.start();
      const [ra, rb] = await Promise.all([a.adapter.fire("race", minutes(1)), b.adapter.fire("race", minutes(1))]);
      expect(counter.executions).toBe(1);
      expect(ra?.id).toBe(rb?.id);
      const rows = await database.knex(`${prefix}runs`).where({ task_id: "race" });
      expect(rows).toHaveLength(1);
      expect(rows[0].status === "succeeded" || rows[0].status === "running").toBe(true);
      await Promise.all([a.upkeep.stop(), b.upkeep.stop()]);
    });

    it("records an overlapping tick as skipped while the previous run goes on", async () => {
      const prefix = freshPrefix();
      const held = gate();
      let executions = 0;
      const task = defineTask({
        id: "slow",
        schedule: "* * * * *",
        run: async () => {
          executions++;
          await held.opened;
        },
      });
      const { adapter, upkeep } = host([task], { prefix });
      await upkeep.start();
      const first = adapter.fire("slow", minutes(1));
      await expect.poll(() => executions).toBe(1);
      const second = await adapter.fire("slow", minutes(2));
      expect(second?.status).toBe("skipped");
      expect(second?.reason).toMatch(/overlap/);
      held.open();
      expect((await first)?.status).toBe("succeeded");
      expect(executions).toBe(1);
      const third = await adapter.fire("slow", minutes(3));
      expect(third?.status).toBe("succeeded");
      await upkeep.stop();
    });

    it("lets overlapping runs go when the policy is allow", async () => {
      const prefix = freshPrefix();
      const held = gate();
      let executions = 0;
      const task = defineTask({
        id: "parallel",
        schedule: "* * * * *",
        overlap: "allow",
        run: async () => {
          executions++;
          await held.opened;
        },
      });
      const { adapter, upkeep } = host([task], { prefix });
      await upkeep.start();
      const runs = [adapter.fire("parallel", minutes(1)), adapter.fire("parallel", minutes(2))];
      await expect.poll(() => executions).toBe(2);
      held.open();
      expect((await Promise.all(runs)).map((run) => run?.status)).toEqual(["succeeded", "succeeded"]);
      await upkeep.stop();
    });

    it("aborts the signal on timeout and records timed_out", async () => {
      const prefix = freshPrefix();
      let seen = "";
      const task = defineTask({
        id: "forever",
        schedule: "* * * * *",
        timeout: 100,
        run: async (ctx) => {
          seen = await untilAborted(ctx.signal);
          return { stoppedEarly: true };
        },
      });
      const { adapter, upkeep } = host([task], { prefix });
      await upkeep.start();
      const run = await adapter.fire("forever", minutes(1));
      expect(seen).toBe("timeout");
      expect(run?.status).toBe("timed_out");
      const stored = await upkeep.store.get(run?.id as string);
      expect(stored?.status).toBe("timed_out");
      expect(stored?.result).toEqual({ stoppedEarly: true });
      await upkeep.stop();
    });

    it("keeps the error of a task that throws once its timeout fired, and reports it with the failure", async () => {
      const prefix = freshPrefix();
      const task = defineTask({
        id: "gives-up",
        schedule: "* * * * *",
        timeout: 100,
        run: async (ctx) => {
          await untilAborted(ctx.signal);
          throw new Error("gave up after batch 3");
        },
      });
      const { adapter, upkeep } = host([task], { prefix });
      const failures: unknown[] = [];
      upkeep.on("run:failure", ({ error }) => void failures.push(error));
      await upkeep.start();
      const run = await adapter.fire("gives-up", minutes(1));
      expect(run?.status).toBe("timed_out");
      const stored = await upkeep.store.get(run?.id as string);
      expect(stored).toMatchObject({ status: "timed_out", reason: "timeout", errorMessage: "gave up after batch 3" });
      expect(failures).toEqual([expect.objectContaining({ message: "gave up after batch 3" })]);
      await upkeep.stop();
    });

    it("retries retryable errors with backoff and fails others at once", async () => {
      const prefix = freshPrefix();
      const attempts: number[] = [];
      const flaky = defineTask({
        id: "flaky",
        schedule: "* * * * *",
        retry: { retries: 3, delay: 10 },
        run: (ctx) => {
          attempts.push(ctx.attempt);
          if (ctx.attempt < 3) throw new TaskError("rate limited", { retryable: true });
          return { attempt: ctx.attempt };
        },
      });
      let brokenCalls = 0;
      const broken = defineTask({
        id: "broken",
        schedule: "* * * * *",
        retry: { retries: 3, delay: 10 },
        run: () => {
          brokenCalls++;
          throw new Error("bad data");
        },
      });
      const { adapter, upkeep } = host([flaky, broken], { prefix });
      await upkeep.start();
      const ok = await adapter.fire("flaky", minutes(1));
      expect(attempts).toEqual([1, 2, 3]);
      expect(ok?.status).toBe("succeeded");
      expect((await upkeep.store.get(ok?.id as string))?.attempt).toBe(3);
      const failed = await adapter.fire("broken", minutes(1));
      expect(brokenCalls).toBe(1);
      expect(failed?.status).toBe("failed");
      const stored = await upkeep.store.get(failed?.id as string);
      expect(stored?.errorMessage).toBe("bad data");
      expect(stored?.errorStack).toContain("bad data");
      await upkeep.stop();
    });

    it("marks a killed process's run abandoned once its lease has expired", async () => {
      const prefix = freshPrefix();
      const child = startFixture("hung-run", [dialect, database.target, prefix]);
      await untilOutput(child, (output) => output.includes("running"));
      await killHard(child);
      const [orphan] = await database.knex(`${prefix}runs`).where({ task_id: "hang" });
      expect(orphan.status).toBe("running");

      let now = new Date();
      const task = defineTask({ id: "hang", schedule: "* * * * *", run: () => "done" });
      const { adapter, upkeep } = host([task], { prefix, clock: () => now });
      await upkeep.start();
      // Within the lease the dead run still counts as live: the next tick is skipped.
      expect((await adapter.fire("hang", minutes(1)))?.status).toBe("skipped");
      now = new Date(Date.now() + 60_000);
      // Past its lease, status and list show it abandoned before any sweep has written so.
      expect((await database.knex(`${prefix}runs`).where({ id: orphan.id }).first()).status).toBe("running");
      expect((await upkeep.runs({ taskId: "hang" })).find((run) => run.id === orphan.id)?.status).toBe("abandoned");
      // An expired lease does not count as overlapping: the next tick runs.
      expect((await adapter.fire("hang", minutes(2)))?.status).toBe("succeeded");
      // The sweep after that run (its last was a lease length ago by the clock) records it.
      await expect.poll(async () => (await upkeep.store.get(orphan.id))?.status).toBe("abandoned");
      await upkeep.stop();
    });

    it("sweeps expired leases of every task in bounded statements, leaving live runs alone", async () => {
      const prefix = freshPrefix();
      const store = knexStore(database.knex, { tablePrefix: prefix });
      await store.migrate();
      const at = minutes(10);
      const claim = (id: string, taskId: string, leaseUntil: Date) =>
        store.claim({
          id,
          taskId,
          scheduledFor: minutes(0),
          trigger: "manual",
          dryRun: false,
          claimedAt: minutes(0),
          leaseUntil,
          host: "h",
          pid: 1,
        });
      await claim("00000000-0000-0000-0000-00000000000a", "a", minutes(5));
      await claim("00000000-0000-0000-0000-00000000000b", "b", minutes(6));
      await claim("00000000-0000-0000-0000-00000000000c", "c", minutes(7));
      await claim("00000000-0000-0000-0000-00000000000d", "d", minutes(20));
      expect(await store.abandonExpired(at, 2)).toBe(2);
      expect(await store.abandonExpired(at, 2)).toBe(1);
      expect(await store.abandonExpired(at, 2)).toBe(0);
      const rows = await database.knex(`${prefix}runs`).select("task_id", "status", "reason").orderBy("task_id");
      expect(rows).toEqual([
        { task_id: "a", status: "abandoned", reason: "lease expired without an outcome" },
        { task_id: "b", status: "abandoned", reason: "lease expired without an outcome" },
        { task_id: "c", status: "abandoned", reason: "lease expired without an outcome" },
        { task_id: "d", status: "running", reason: null },
      ]);
    });

    it("keeps the first outcome: finish is a compare-and-set on running", async () => {
      const prefix = freshPrefix();
      const store = knexStore(database.knex, { tablePrefix: prefix });
      await store.migrate();
      const id = "00000000-0000-0000-0000-0000000000f1";
      await store.claim({
        id,
        taskId: "t",
        scheduledFor: T0,
        trigger: "manual",
        dryRun: false,
        claimedAt: T0,
        leaseUntil: minutes(1),
        host: "h",
        pid: 1,
      });
      const outcome = (status: RunOutcome["status"], reason: string): RunOutcome => ({
        status,
        finishedAt: minutes(1),
        attempt: 1,
        durationMs: 5,
        result: null,
        reason,
        errorMessage: null,
        errorStack: null,
      });
      expect(await store.finish(id, outcome("interrupted", "shutdown"))).toBe(true);
      expect(await store.finish(id, outcome("succeeded", "late"))).toBe(false);
      expect(await store.get(id)).toMatchObject({ status: "interrupted", reason: "shutdown" });
    });

    it("runs a task in two statements: the claim and the finish", async () => {
      const prefix = freshPrefix();
      const task = defineTask({ id: "two", schedule: "* * * * *", run: () => ({ ok: true }) });
      const { upkeep } = host([task], { prefix });
      await upkeep.migrate();
      await upkeep.run("two");
      const sent: unknown[][] = [];
      const record = (query: { bindings?: unknown[] }) => sent.push(query.bindings ?? []);
      database.knex.on("query", record);
      let run: RunRecord;
      try {
        run = await upkeep.run("two");
      } finally {
        database.knex.removeListener("query", record);
      }
      expect(run.status).toBe("succeeded");
      // Statements about this run; a sweep or prune the run set off carries no run id.
      expect(sent.filter((bindings) => bindings.includes(run.id))).toHaveLength(2);
      await upkeep.stop();
    });

    it("runs a scheduled tick in two statements, the pause flag read in the claim; a paused task's tick records nothing", async () => {
      const prefix = freshPrefix();
      const task = defineTask({ id: "ticked", schedule: "* * * * *", run: () => ({ ok: true }) });
      const lines: Array<[string, Record<string, unknown>]> = [];
      const quiet = () => {};
      const logger: Logger = { debug: quiet, warn: quiet, error: quiet, info: (fields, message) => lines.push([message, fields]) };
      const adapter = manualAdapter();
      const upkeep = registerTasks(adapter, {
        tasks: [task],
        db: database.knex,
        tablePrefix: prefix,
        logger,
        healthInterval: 0,
        historyRetention: 0,
        events: { retention: 0 },
      });
      await upkeep.start();
      await adapter.fire("ticked", minutes(1));
      const sent: Array<{ sql: string; bindings: unknown[] }> = [];
      const record = (query: { sql: string; bindings?: unknown[] }) => sent.push({ sql: query.sql, bindings: query.bindings ?? [] });
      database.knex.on("query", record);
      let run: RunRecord | undefined;
      try {
        run = await adapter.fire("ticked", minutes(2));
      } finally {
        database.knex.removeListener("query", record);
      }
      expect(run).toMatchObject({ status: "succeeded", trigger: "schedule" });
      // Statements about this task or this run: the abandoned-run and event sweep an earlier tick set
      // off (it names neither) can still be on its way on a loaded machine.
      const mine = sent.filter(({ bindings }) => bindings.includes("ticked") || bindings.includes(run?.id));
      expect(mine.map(({ sql }) => sql)).toHaveLength(2);
      expect(mine[0]?.sql).toContain(`${prefix}task_state`);

      await upkeep.pause("ticked", { reason: "reindexing" });
      expect(await adapter.fire("ticked", minutes(3))).toBeUndefined();
      expect(await database.knex(`${prefix}runs`).where({ task_id: "ticked" })).toHaveLength(2);
      const paused = lines.find(([message]) => message === "[upkeep] tick not run: the task is paused");
      expect(paused?.[1]).toMatchObject({ taskId: "ticked", reason: "reindexing" });
      expect((await upkeep.run("ticked")).status).toBe("succeeded");
      await upkeep.resume("ticked");
      expect(await adapter.fire("ticked", minutes(4))).toMatchObject({ status: "succeeded" });
      await upkeep.stop();
    });

    it("of two hosts claiming different ticks of a task at once, one runs and the other is skipped", async () => {
      const prefix = freshPrefix();
      let executions = 0;
      let held = gate();
      // The run holds until the other claim has answered, so the two claims always overlap.
      const task = defineTask({
        id: "single",
        schedule: "* * * * *",
        run: async () => {
          executions++;
          await held.opened;
        },
      });
      const a = host([task], { prefix });
      const b = host([task], { prefix, db: database.connect() });
      await a.upkeep.start();
      await b.upkeep.start();
      for (let round = 0; round < 5; round++) {
        executions = 0;
        held = gate();
        let answered = 0;
        const fires = [a.adapter.fire("single", minutes(2 * round + 1)), b.adapter.fire("single", minutes(2 * round + 2))].map((fired) =>
          fired.finally(() => void answered++),
        );
        await expect.poll(() => answered + executions).toBeGreaterThanOrEqual(2);
        held.open();
        const runs = await Promise.all(fires);
        expect(runs.map((run) => run?.status).sort()).toEqual(["skipped", "succeeded"]);
        expect(executions).toBe(1);
      }
      await Promise.all([a.upkeep.stop(), b.upkeep.stop()]);
    });

    it("aborts a run claimed after stop() began and records it interrupted without starting it", async () => {
      const prefix = freshPrefix();
      const real = knexStore(database.knex, { tablePrefix: prefix });
      const claiming = gate();
      const proceed = gate();
      // The real store, with the claim held on its way so stop() lands in the middle of it.
      const store: RunStore = {
        ...real,
        claim: async (run, options) => {
          claiming.open();
          await proceed.opened;
          return real.claim(run, options);
        },
      };
      let started = false;
      const task = defineTask({
        id: "late",
        schedule: "* * * * *",
        run: () => {
          started = true;
          return { ok: true };
        },
      });
      const { adapter, upkeep } = host([task], { prefix, store });
      await upkeep.start();
      const fired = adapter.fire("late", minutes(1));
      await claiming.opened;
      const stopped = upkeep.stop({ timeout: 5000 });
      proceed.open();
      const run = await fired;
      await stopped;
      expect(started).toBe(false);
      expect(run).toMatchObject({ status: "interrupted", reason: expect.stringMatching(/^shutdown/) });
      const [row] = await database.knex(`${prefix}runs`).select("status", "lease_until");
      expect(row).toEqual({ status: "interrupted", lease_until: null });
    });

    it("keeps the stop timeout's interrupted outcome when the run ends later, and tells no second outcome", async () => {
      const prefix = freshPrefix();
      const task = defineTask({ id: "deaf", schedule: "* * * * *", run: () => new Promise(() => {}) });
      const { adapter, upkeep } = host([task], { prefix });
      const outcomes: string[] = [];
      upkeep.on("run:failure", ({ run }) => void outcomes.push(run.status));
      upkeep.on("run:success", ({ run }) => void outcomes.push(run.status));
      let started = 0;
      upkeep.on("run:start", () => void started++);
      await upkeep.start();
      const fired = adapter.fire("deaf", minutes(1));
      await expect.poll(() => started).toBe(1);
      // The stop timeout (50 ms) passes before the abort grace (200 ms) gives up on the task.
      await upkeep.stop({ timeout: 50 });
      const run = await fired;
      const stored = await upkeep.store.get(run?.id as string);
      expect(stored).toMatchObject({ status: "interrupted", reason: "shutdown: did not finish within the stop timeout" });
      expect(run).toMatchObject({ status: "interrupted", reason: "shutdown: did not finish within the stop timeout" });
      expect(outcomes).toEqual([]);
    });

    it("logs no lost lease when a renewal crosses the run's own finish", async () => {
      const prefix = freshPrefix();
      const real = knexStore(database.knex, { tablePrefix: prefix });
      const renewing = gate();
      const finished = gate();
      const answered = gate();
      // The real store, with each renewal answered only after the run has finished.
      const store: RunStore = {
        ...real,
        renewLease: async (runId, leaseUntil) => {
          renewing.open();
          await finished.opened;
          const held = await real.renewLease(runId, leaseUntil);
          setImmediate(answered.open);
          return held;
        },
        finish: async (runId, outcome) => {
          const won = await real.finish(runId, outcome);
          finished.open();
          return won;
        },
      };
      const warnings: string[] = [];
      const quiet = () => {};
      const logger: Logger = { debug: quiet, info: quiet, error: quiet, warn: (_fields, message) => void warnings.push(String(message)) };
      const task = defineTask({ id: "brief", schedule: "* * * * *", run: () => renewing.opened });
      const { adapter, upkeep } = host([task], { prefix, store, logger, lease: 90 });
      await upkeep.start();
      expect((await adapter.fire("brief", minutes(1)))?.status).toBe("succeeded");
      await answered.opened;
      expect(warnings.filter((message) => message.includes("lease"))).toEqual([]);
      await upkeep.stop();
    });

    it("records runs still going at stop() as interrupted after aborting them", async () => {
      const prefix = freshPrefix();
      let reason = "";
      const polite = defineTask({
        id: "polite",
        schedule: "* * * * *",
        run: async (ctx: TaskContext) => {
          reason = await untilAborted(ctx.signal);
          return { batches: 3, stoppedEarly: true };
        },
      });
      const stubborn = defineTask({ id: "stubborn", schedule: "* * * * *", run: () => new Promise(() => {}) });
      const { adapter, upkeep } = host([polite, stubborn], { prefix });
      let started = 0;
      upkeep.on("run:start", () => void started++);
      await upkeep.start();
      const runs = [adapter.fire("polite", minutes(1)), adapter.fire("stubborn", minutes(1))];
      // Started, not only claimed: a run claimed but not yet started when stop() lands never starts.
      await expect.poll(() => started).toBe(2);
      await upkeep.stop({ timeout: 1000 });
      expect(reason).toBe("shutdown");
      const [politeRun] = (await Promise.all(runs)) as RunRecord[];
      expect(politeRun?.status).toBe("interrupted");
      const stored = await database.knex(`${prefix}runs`).select("task_id", "status").orderBy("task_id");
      expect(stored).toEqual([
        { task_id: "polite", status: "interrupted" },
        { task_id: "stubborn", status: "interrupted" },
      ]);
      expect(await adapter.fire("polite", minutes(2))).toBeUndefined();
    });

    it("catches up a missed daily tick once at start-up", async () => {
      const prefix = freshPrefix();
      const now = new Date("2026-01-10T05:00:00Z");
      const served: string[] = [];
      const daily = defineTask({
        id: "daily",
        schedule: "0 3 * * *",
        catchUp: true,
        run: (ctx) => {
          served.push(ctx.scheduledFor.toISOString());
        },
      });
      const first = host([daily], { prefix, clock: () => now });
      const done = new Promise((resolve) => first.upkeep.on("run:success", resolve));
      await first.upkeep.start();
      await done;
      const second = host([daily], { prefix, clock: () => now, db: database.connect() });
      await second.upkeep.start();
      await second.upkeep.stop();
      await first.upkeep.stop();
      expect(served).toEqual(["2026-01-10T03:00:00.000Z"]);
      const rows = await database.knex(`${prefix}runs`).where({ task_id: "daily" });
      expect(rows).toHaveLength(1);
      expect(rows[0].trigger).toBe("catch-up");
    });

    it("stores a manual run's result and lists next run times and last outcomes", async () => {
      const prefix = freshPrefix();
      const now = new Date("2026-01-10T05:00:30Z");
      const task = defineTask({
        id: "report",
        schedule: "15 */2 * * *",
        timezone: "Europe/Berlin",
        input: z.object({ greeting: z.string() }),
        defaultInput: { greeting: "hi" },
        run: (ctx, input) => ({ said: input.greeting, dryRun: ctx.dryRun }),
      });
      const { upkeep } = host([task], { prefix, clock: () => now });
      const run = await upkeep.run("report", { input: { greeting: "hello" }, dryRun: true });
      expect(run.status).toBe("succeeded");
      expect(run.trigger).toBe("manual");
      expect((await upkeep.store.get(run.id))?.result).toEqual({ said: "hello", dryRun: true });
      const [info] = await upkeep.list();
      expect(info?.nextRun?.toISOString()).toBe("2026-01-10T05:15:00.000Z");
      expect(info?.lastRun?.id).toBe(run.id);
      await upkeep.stop();
    });

    it("does not check migrations again on a run after an explicit migrate()", async () => {
      const prefix = freshPrefix();
      const task = defineTask({ id: "noop", schedule: "0 3 * * *", run: () => ({ ok: true }) });
      const { upkeep } = host([task], { prefix });
      await upkeep.migrate();
      const sent: string[] = [];
      const record = (query: { sql: string }) => sent.push(query.sql);
      database.knex.on("query", record);
      try {
        expect((await upkeep.run("noop")).status).toBe("succeeded");
      } finally {
        database.knex.removeListener("query", record);
      }
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.filter((sql) => sql.includes(`${prefix}migrations`))).toEqual([]);
      await upkeep.stop();
    });
  });
}

describe("registration", () => {
  it("names the failing field of a bad input and never its value", () => {
    const task = defineTask({
      id: "needs-input",
      schedule: "* * * * *",
      input: z.object({ apiKey: z.string().min(40), batchSize: z.number().int().positive() }),
      run: () => {},
    });
    const secret = "sk_live_leaky_value";
    let error: unknown;
    try {
      registerTasks(manualAdapter(), { tasks: [{ task, input: { apiKey: secret, batchSize: "lots" } }], logger: silentLogger });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/^\[upkeep\] invalid task configuration/);
    expect(message).toContain("tasks.needs-input.input.apiKey");
    expect(message).toContain("tasks.needs-input.input.batchSize");
    expect(message).not.toContain(secret);
    expect(message).not.toContain("lots");
  });

  it("refuses a bad schedule, timezone, duplicate id and unknown config key", () => {
    const task = defineTask({ id: "t", schedule: "* * * * *", run: () => {} });
    expect(() => registerTasks(manualAdapter(), { tasks: [{ task, schedule: "61 * * * *" }] })).toThrow(/tasks\.t\.schedule/);
    expect(() => registerTasks(manualAdapter(), { tasks: [{ task, timezone: "Mars/Olympus" }] })).toThrow(/tasks\.t\.timezone/);
    expect(() => registerTasks(manualAdapter(), { tasks: [task, task] })).toThrow(/tasks\.1\.id: duplicate task id/);
    expect(() => registerTasks(manualAdapter(), { tasks: [task], tablePrefx: "x" } as never)).toThrow(/Unrecognized key/);
    expect(() => defineTask({ id: "Bad Id", schedule: "* * * * *", run: () => {} })).toThrow(/id: expected lower-case/);
    // defineTask names the task as the config does (it said only "schedule").
    expect(() => defineTask({ id: "nightly", schedule: "61 * * * *", run: () => {} })).toThrow(/tasks\.nightly\.schedule: /);
    expect(() => defineTask({ id: "nightly", schedule: "0 3 * * *", timezone: "Mars/Olympus", run: () => {} })).toThrow(
      /tasks\.nightly\.timezone: /,
    );
    expect(() => defineTask({ id: "nightly", schedule: "0 3 * * *", timeout: "soon" as never, run: () => {} })).toThrow(
      /tasks\.nightly\.timeout: /,
    );
  });
});

// A misspelled key is a type error in defineConfig (the const generic skipped excess-property
// checks): the @ts-expect-error lines fail `pnpm typecheck` if defineConfig accepts them.
describe("defineConfig's types", () => {
  it("refuses a key the configuration does not have, at the type level and at registration", () => {
    const task = defineTask({ id: "typed", schedule: "* * * * *", run: () => {} });
    // @ts-expect-error tablePrefx is not a configuration key
    const misspelled = defineConfig({ tasks: [task], tablePrefx: "x_", logger: silentLogger });
    expect(() => registerTasks(manualAdapter(), misspelled)).toThrow(/Unrecognized key/);
    const right = defineConfig({ tasks: [task], tablePrefix: "x_", logger: silentLogger });
    expect(right.tablePrefix).toBe("x_");
  });
});

import {
  type Adapter,
  ConfigError,
  defineTask,
  manualAdapter,
  registerTasks,
  SECOND_TICKS,
  silentLogger,
  type UpkeepConfig,
} from "@upkeep/core";
import { createTestDatabase, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The pieces of the adapter contract the adapters lean on: `due(at)` (system cron's `upkeep tick`),
// `job.tickAt` and the testing-only seconds patterns.
describe("adapter contract helpers", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const noop = (id: string, schedule: string, extra: { catchUp?: boolean } = {}) =>
    defineTask({ id, schedule, ...extra, run: () => ({ ok: true }) });

  it("due(at) lists the ticks of the minute `at` falls in and nothing else", async () => {
    const upkeep = registerTasks(manualAdapter(), {
      tasks: [noop("every-minute", "* * * * *"), noop("at-ten", "10 * * * *"), noop("at-three", "0 3 * * *")],
      db: database.knex,
      tablePrefix: "due1_",
      logger: silentLogger,
    });
    const due = await upkeep.due(new Date("2026-03-01T05:10:42Z"));
    expect(due.map((tick) => [tick.job.id, tick.scheduledFor.toISOString(), tick.catchUp])).toEqual([
      ["every-minute", "2026-03-01T05:10:00.000Z", false],
      ["at-ten", "2026-03-01T05:10:00.000Z", false],
    ]);
  });

  it("due(at) adds the latest missed tick of a catch-up task until a run of it exists", async () => {
    const upkeep = registerTasks(manualAdapter(), {
      tasks: [noop("nightly", "0 3 * * *", { catchUp: true })],
      db: database.knex,
      tablePrefix: "due2_",
      logger: silentLogger,
    });
    const at = new Date("2026-03-01T05:10:00Z");
    const [missed] = await upkeep.due(at);
    expect(missed?.scheduledFor.toISOString()).toBe("2026-03-01T03:00:00.000Z");
    expect(missed?.catchUp).toBe(true);
    const run = await missed?.job.execute({ scheduledFor: missed.scheduledFor, catchUp: true });
    expect(run?.trigger).toBe("catch-up");
    expect(run?.status).toBe("succeeded");
    expect(await upkeep.due(at)).toEqual([]);
  });

  it("job.tickAt gives the tick a late firing serves, in the task's timezone", () => {
    const upkeep = registerTasks(manualAdapter(), {
      tasks: [{ task: noop("kathmandu", "0 9 * * *"), timezone: "Asia/Kathmandu" }],
      logger: silentLogger,
    });
    const [job] = upkeep.jobs;
    expect(job?.tickAt(new Date("2026-03-01T03:15:07Z"))?.toISOString()).toBe("2026-03-01T03:15:00.000Z");
    expect(job?.tickAt(new Date("2026-03-01T03:14:59Z"))?.toISOString()).toBe("2026-02-28T03:15:00.000Z");
  });

  it("accepts a seconds pattern only from a config carrying the internal SECOND_TICKS key", () => {
    const base = { tasks: [{ task: noop("fast", "* * * * *"), schedule: "*/2 * * * * *" }], logger: silentLogger };
    expect(() => registerTasks(manualAdapter(), base)).toThrow(ConfigError);
    expect(() => registerTasks(manualAdapter(), base)).toThrow(/tasks\.fast\.schedule: expected 5 cron fields, got 6/);
    const testing: UpkeepConfig = Object.assign({ ...base }, { [SECOND_TICKS]: true });
    const [job] = registerTasks(manualAdapter(), testing).jobs;
    expect(job?.next(new Date("2026-03-01T00:00:01.500Z"))?.toISOString()).toBe("2026-03-01T00:00:02.000Z");
    expect(() => defineTask({ id: "direct", schedule: "*/2 * * * * *", run: () => {} })).toThrow(ConfigError);
  });

  it("stop() aborts runs in flight while the adapter stops, so an adapter waiting for its runs is not left waiting", async () => {
    // Regression: the runner was told to stop only after adapter.stop() returned, so an adapter
    // that waits for its in-flight jobs (BullMQ's worker.close()) waited for runs nobody aborted.
    const base = manualAdapter();
    let running: Promise<unknown> | undefined;
    let sawAbortInsideStop = false;
    let reason: unknown;
    const adapter: Adapter = {
      ...base,
      name: "waits-for-its-runs",
      async stop({ timeoutMs }) {
        const limit = new Promise((resolve) => setTimeout(resolve, timeoutMs));
        await Promise.race([running, limit]);
        sawAbortInsideStop = reason === "shutdown";
      },
    };
    const upkeep = registerTasks(adapter, {
      tasks: [
        defineTask({
          id: "held",
          schedule: "* * * * *",
          run: (ctx) =>
            new Promise<void>((resolve) => {
              ctx.signal.addEventListener("abort", () => {
                reason = ctx.signal.reason;
                resolve();
              });
            }),
        }),
      ],
      db: database.knex,
      tablePrefix: "stop1_",
      logger: silentLogger,
    });
    await upkeep.start();
    running = base.fire("held", new Date("2026-03-01T05:10:00Z"));
    await expect.poll(async () => (await upkeep.runs()).length).toBe(1);
    await upkeep.stop({ timeout: 60_000 });
    expect(sawAbortInsideStop).toBe(true);
    expect((await running) as { status: string }).toMatchObject({ status: "interrupted" });
  });
});

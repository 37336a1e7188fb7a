import {
  defineTask,
  manualAdapter,
  registerTasks,
  SECOND_TICKS,
  silentLogger,
  TaskError,
  type TaskHealthEvent,
  type UpkeepConfig,
} from "@upkeep/core";
import { cronerAdapter } from "@upkeep/croner";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Health states, pause and resume, and the transition events, on each dialect. Time is a clock the
// test moves; ticks are fired through the manual adapter at the moment a scheduler would.
const T0 = new Date("2026-03-02T00:30:00Z");
const at = (hhmm: string) => new Date(`2026-03-02T${hhmm}:00Z`);

let prefixes = 0;

const hourly = defineTask({ id: "hourly", schedule: "0 * * * *", run: () => ({ ok: true }) });
let brokenFails = true;
const broken = defineTask({
  id: "broken",
  schedule: "0 * * * *",
  run: () => {
    if (brokenFails) throw new TaskError("the fixture task fails on purpose", { reason: "FIXTURE" });
    return { fixed: true };
  },
});
const off = defineTask({ id: "off", schedule: "0 * * * *", enabled: false, run: () => {} });

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`task health on ${dialect}`, { timeout: 60_000 }, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    /** A host on the suite's database with a clock the test sets; `db` makes another host. */
    function host(prefix: string, options: { db?: Knex; tasks?: UpkeepConfig["tasks"] } = {}) {
      const clock = { now: T0 };
      const adapter = manualAdapter();
      const upkeep = registerTasks(adapter, {
        tasks: options.tasks ?? [hourly, broken, off],
        db: options.db ?? database.knex,
        tablePrefix: prefix,
        logger: silentLogger,
        clock: () => clock.now,
        healthInterval: 0,
      });
      return { adapter, upkeep, clock };
    }
    /** The task's entry in `health()`; the one-task read `taskHealth(id)` must agree with it in every state. */
    const stateOf = async (upkeep: ReturnType<typeof host>["upkeep"], id: string) => {
      const fleet = (await upkeep.health()).find((health) => health.id === id);
      expect(await upkeep.taskHealth(id)).toEqual(fleet);
      return fleet;
    };

    /** A tick run of `taskId` at `tick`, straight into the table (a history no host made). */
    const tickRow = (taskId: string, tick: Date, status: string, leaseUntil: number | null = null) => ({
      id: `00000000-0000-4000-8000-${taskId.padEnd(6, "x").slice(0, 6)}${String(tick.getTime() / 60_000).slice(-6)}`,
      task_id: taskId,
      claim_key: `tick:${tick.getTime()}`,
      scheduled_for: tick.getTime(),
      trigger: "schedule",
      status,
      attempt: 1,
      dry_run: false,
      claimed_at: tick.getTime(),
      finished_at: status === "running" ? null : tick.getTime() + 500,
      duration_ms: status === "running" ? null : 500,
      lease_until: leaseUntil,
      host: "fixture",
      pid: 1,
    });

    it("goes new, late, up, late, missed as ticks come and go; a manual run or a dry run does not count as the tick's run", async () => {
      const { adapter, upkeep, clock } = host(`h${++prefixes}_`);
      await upkeep.migrate();
      expect((await stateOf(upkeep, "hourly"))?.state).toBe("new");
      await upkeep.start();
      // Started at 00:30: the 00:00 tick came before any worker scheduled the task.
      clock.now = at("00:45");
      expect((await stateOf(upkeep, "hourly"))?.state).toBe("new");
      // An hourly tick's grace is 6 minutes (10 % of the period, under 10 minutes).
      clock.now = at("01:05");
      expect(await stateOf(upkeep, "hourly")).toMatchObject({ state: "new", graceMs: 360_000 });
      clock.now = at("01:07");
      expect(await stateOf(upkeep, "hourly")).toMatchObject({ state: "late", tick: at("01:00") });
      await upkeep.run("hourly");
      await upkeep.run("hourly", { scheduled: false, dryRun: true });
      expect((await stateOf(upkeep, "hourly"))?.state).toBe("late");
      await adapter.fire("hourly", at("01:00"));
      const up = await stateOf(upkeep, "hourly");
      expect(up).toMatchObject({ state: "up", tick: at("01:00"), consecutiveFailures: 0 });
      expect(up?.lastSuccess?.scheduledFor).toEqual(at("01:00"));
      clock.now = at("02:10");
      expect((await stateOf(upkeep, "hourly"))?.state).toBe("late");
      clock.now = at("03:01");
      expect(await stateOf(upkeep, "hourly")).toMatchObject({ state: "missed", tick: at("02:00") });
      await upkeep.run("hourly");
      expect((await stateOf(upkeep, "hourly"))?.state).toBe("missed");
      expect((await stateOf(upkeep, "off"))?.state).toBe("disabled");
      await upkeep.stop();
    });

    it("taskHealth(id) agrees with health() for a running task and for a success older than the runs read, in a fixed number of statements", async () => {
      const prefix = `h${++prefixes}_`;
      const db = database.connect();
      const { upkeep } = host(prefix, { db });
      await upkeep.migrate();
      const hour = 3_600_000;
      // broken: one success, then 60 failed hourly ticks (more than the 50 runs health reads).
      const firstTick = new Date(T0.getTime() - 30 * 60_000 - 60 * hour);
      const rows = Array.from({ length: 61 }, (_, n) =>
        tickRow("broken", new Date(firstTick.getTime() + n * hour), n === 0 ? "succeeded" : "failed"),
      );
      rows.push(tickRow("hourly", at("00:00"), "running", T0.getTime() + hour));
      for (let n = 0; n < rows.length; n += 20) await database.knex(`${prefix}runs`).insert(rows.slice(n, n + 20));

      const statements: string[] = [];
      db.on("query", (query: { sql: string }) => statements.push(query.sql));
      const fleet = await upkeep.health();
      const fleetStatements = statements.splice(0).length;
      const broken = fleet.find((health) => health.id === "broken");
      expect(broken).toMatchObject({ state: "failing", consecutiveFailures: 50, lastSuccess: { scheduledFor: firstTick } });
      expect(await upkeep.taskHealth("broken")).toEqual(broken);
      const running = await upkeep.taskHealth("hourly");
      expect(running).toMatchObject({ state: "running", tick: at("00:00") });
      expect(running).toEqual(fleet.find((health) => health.id === "hourly"));
      const oneStatements = statements.splice(0).length;
      // States, the latest tick runs of every task, and the older success of broken; before, 1 + 2 per task.
      expect(fleetStatements).toBe(3);
      expect(oneStatements).toBe(3 + 2);
      await expect(upkeep.taskHealth("nope")).rejects.toMatchObject({ code: "TASK_NOT_FOUND" });
      await upkeep.stop();
    });

    it("is failing with the number of failed tick runs in a row, and up again after a success", async () => {
      const prefix = `h${++prefixes}_`;
      const { adapter, upkeep, clock } = host(prefix);
      await upkeep.start();
      for (const time of ["01:00", "02:00", "03:00"]) {
        clock.now = at(time);
        await adapter.fire("broken", at(time));
      }
      const failing = await stateOf(upkeep, "broken");
      expect(failing).toMatchObject({ state: "failing", consecutiveFailures: 3, tick: at("03:00") });
      expect(failing?.detail).toContain("the fixture task fails on purpose");

      clock.now = at("04:00");
      brokenFails = false;
      try {
        await adapter.fire("broken", clock.now);
      } finally {
        brokenFails = true;
      }
      expect(await stateOf(upkeep, "broken")).toMatchObject({ state: "up", consecutiveFailures: 0 });
      await upkeep.stop();
    });

    it("a pause on one host stops the tick on another and records nothing; manual runs still work; resume forgives the paused ticks", async () => {
      const prefix = `h${++prefixes}_`;
      const a = host(prefix);
      const b = host(prefix, { db: database.connect() });
      await a.upkeep.start();
      await b.upkeep.start();
      b.clock.now = a.clock.now = at("01:00");
      await a.upkeep.pause("hourly", { reason: "vacuum in progress" });
      expect(await b.adapter.fire("hourly", b.clock.now)).toBeUndefined();
      expect(await database.knex(`${prefix}runs`).where({ task_id: "hourly" })).toHaveLength(0);
      await expect(b.upkeep.run("hourly", { scheduled: true })).rejects.toMatchObject({ code: "TASK_PAUSED" });
      expect(await stateOf(b.upkeep, "hourly")).toMatchObject({
        state: "paused",
        detail: "paused: vacuum in progress",
        paused: { reason: "vacuum in progress", at: at("01:00") },
      });
      const manual = await b.upkeep.run("hourly");
      expect(manual).toMatchObject({ status: "succeeded", trigger: "manual" });

      // Paused across the 01:00 and 02:00 ticks; resumed at 02:30 it is neither missed nor late.
      b.clock.now = a.clock.now = at("02:30");
      await b.upkeep.resume("hourly");
      expect((await stateOf(a.upkeep, "hourly"))?.state).toBe("new");
      const run = await a.adapter.fire("hourly", at("03:00"));
      expect(run).toMatchObject({ status: "succeeded", trigger: "schedule" });
      await expect(a.upkeep.pause("nope")).rejects.toMatchObject({ code: "TASK_NOT_FOUND" });
      await expect(a.upkeep.pause("hourly", { reason: "x".repeat(501) })).rejects.toThrow(/reason: expected text of at most 500/);
      await a.upkeep.stop();
      await b.upkeep.stop();
    });

    it("announces late, missed and recovered once per transition, whichever of two hosts sweeps", async () => {
      const prefix = `h${++prefixes}_`;
      const a = host(prefix, { tasks: [hourly] });
      const b = host(prefix, { db: database.connect(), tasks: [hourly] });
      const seen: Array<[string, string, TaskHealthEvent["previous"]]> = [];
      for (const [name, side] of [
        ["a", a],
        ["b", b],
      ] as const) {
        for (const event of ["task:late", "task:missed", "task:recovered"] as const) {
          side.upkeep.on(event, (payload) => {
            seen.push([`${name} ${event}`, payload.health.state, payload.previous]);
          });
        }
      }
      await a.upkeep.start();
      await b.upkeep.start();
      const sweep = async (time: string) => {
        a.clock.now = b.clock.now = at(time);
        await Promise.all([a.upkeep.checkHealth(), b.upkeep.checkHealth()]);
      };
      await sweep("01:03");
      await sweep("01:07");
      await sweep("01:30");
      await sweep("02:01");
      await a.adapter.fire("hourly", at("02:00"));
      await sweep("02:02");
      await sweep("02:03");
      expect(seen.map(([who, state, previous]) => [who.slice(2), state, previous])).toEqual([
        ["task:late", "late", "new"],
        ["task:missed", "missed", "late"],
        ["task:recovered", "up", "missed"],
      ]);
      await a.upkeep.stop();
      await b.upkeep.stop();
    });

    it("honours a pause for ticks croner fires, until resumed", async () => {
      const prefix = `h${++prefixes}_`;
      const second = defineTask({ id: "second", schedule: "* * * * *", run: () => ({ ok: true }) });
      const config = {
        tasks: [{ task: second, schedule: "* * * * * *" }],
        tablePrefix: prefix,
        logger: silentLogger,
        healthInterval: 0,
        [SECOND_TICKS]: true,
      };
      const worker = registerTasks(cronerAdapter(), { ...config, db: database.knex });
      const operator = registerTasks(manualAdapter(), { ...config, db: database.connect() });
      const count = async () => Number((await database.knex(`${prefix}runs`).count({ n: "*" }))[0]?.n);
      await worker.start();
      await expect.poll(count, { timeout: 10_000, interval: 200 }).toBeGreaterThanOrEqual(2);
      await expect.poll(async () => (await worker.health())[0]?.state, { timeout: 5_000 }).toMatch(/^(up|running)$/);
      await operator.pause("second");
      // A tick that had already started may still finish; after it the count stays put.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const paused = await count();
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(await count()).toBe(paused);
      expect((await worker.health())[0]?.state).toBe("paused");
      await operator.resume("second");
      await expect.poll(count, { timeout: 10_000, interval: 200 }).toBeGreaterThan(paused);
      await worker.stop();
      await operator.stop();
    });
  });
}

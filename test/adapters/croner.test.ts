import { defineTask, registerTasks, type ScheduledJob, silentLogger } from "@upkeep/core";
import { cronerAdapter } from "@upkeep/croner";
import { testAdapter } from "@upkeep/testkit";
import { describe, expect, it } from "vitest";

testAdapter({ name: "croner", dialects: ["sqlite", "postgres", "mariadb"], createAdapter: () => cronerAdapter() });

describe("cronerAdapter", () => {
  it("arms one Cron per task in the task's timezone, with catch and protect set, from start()", async () => {
    const adapter = cronerAdapter();
    const task = (id: string) => defineTask({ id, schedule: "0 3 * * *", run: () => {} });
    const upkeep = registerTasks(adapter, {
      tasks: [{ task: task("a"), timezone: "Europe/Berlin" }, task("b")],
      timezone: "America/New_York",
      logger: silentLogger,
    });
    expect(adapter.crons.size).toBe(0);
    await upkeep.start();
    expect([...adapter.crons.keys()]).toEqual(["a", "b"]);
    for (const [id, cron] of adapter.crons) {
      expect(cron.options.timezone).toBe(id === "a" ? "Europe/Berlin" : "America/New_York");
      expect(cron.options.catch).toBeTypeOf("function");
      expect(cron.options.protect).toBeTypeOf("function");
      expect(cron.nextRun()?.getTime()).toBe(
        upkeep.jobs
          .find((job) => job.id === id)
          ?.next(new Date())
          ?.getTime(),
      );
    }
    await upkeep.stop();
    expect(adapter.crons.size).toBe(0);
  });

  it("keeps a rejecting job from becoming an unhandled rejection (croner's catch trap)", async () => {
    const adapter = cronerAdapter();
    const errors: unknown[] = [];
    await adapter.init?.({ logger: { ...silentLogger, error: (fields) => errors.push(fields.err) } });
    let calls = 0;
    const job: ScheduledJob = {
      id: "rejects",
      pattern: "* * * * * *",
      timezone: "UTC",
      next: () => null,
      tickAt: (at) => at,
      execute: async () => {
        calls++;
        throw new Error("store down");
      },
    };
    await adapter.schedule(job);
    await adapter.start();
    await expect.poll(() => calls, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    await adapter.stop({ timeoutMs: 1000 });
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect((errors[0] as Error).message).toBe("store down");
  });

  it("stop waits for the runs it started, but no longer than its timeout", async () => {
    const adapter = cronerAdapter();
    let release = () => {};
    let started = false;
    const job: ScheduledJob = {
      id: "held",
      pattern: "* * * * * *",
      timezone: "UTC",
      next: () => null,
      tickAt: (at) => at,
      execute: () => {
        started = true;
        return new Promise((resolve) => {
          release = () => resolve(undefined);
        });
      },
    };
    await adapter.schedule(job);
    await adapter.start();
    await expect.poll(() => started, { timeout: 5000 }).toBe(true);
    let stopped = false;
    const stopping = Promise.resolve(adapter.stop({ timeoutMs: 60_000 })).then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    // With nothing ever finishing, stop still returns at its timeout.
    const stuck = cronerAdapter();
    let startedStuck = false;
    await stuck.schedule({
      ...job,
      execute: () => {
        startedStuck = true;
        return new Promise(() => {});
      },
    });
    await stuck.start();
    await expect.poll(() => startedStuck, { timeout: 5000 }).toBe(true);
    await stuck.stop({ timeoutMs: 100 });
  });
});

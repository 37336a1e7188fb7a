import { describe, expect, it } from "vitest";
import { silentLogger } from "./logger.ts";
import { manualAdapter } from "./manual-adapter.ts";
import { registerTasks } from "./register.ts";
import { memoryStore } from "./store/memory-store.ts";
import type { NewRun } from "./store/types.ts";
import { defineTask } from "./task.ts";

describe("memory store claims", () => {
  const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
  const run = (id: string, minute: number, trigger: NewRun["trigger"] = "schedule"): NewRun => ({
    id,
    taskId: "t",
    scheduledFor: at(minute),
    trigger,
    dryRun: false,
    claimedAt: at(minute),
    leaseUntil: at(minute + 5),
    host: "h",
    pid: 1,
  });

  it("records nothing for a paused task's tick and says so; a manual run is claimed", async () => {
    const store = memoryStore();
    await store.setPaused("t", { reason: "reindexing" }, at(0));
    expect(await store.claim(run("a", 1))).toEqual({ claimed: false, existing: undefined, paused: { reason: "reindexing" } });
    expect(await store.claim(run("b", 1, "catch-up"))).toMatchObject({ claimed: false, paused: { reason: "reindexing" } });
    expect(await store.claim(run("c", 1, "manual"))).toMatchObject({ claimed: true, run: { status: "running" } });
    expect((await store.list()).map((r) => r.id)).toEqual(["c"]);
    await store.setPaused("t", null, at(2));
    expect(await store.claim(run("d", 3))).toMatchObject({ claimed: true, run: { status: "running" } });
  });

  it("checks overlap against running runs only: a finished or abandoned run no longer blocks", async () => {
    const store = memoryStore();
    await store.claim(run("a", 1), { overlap: "skip" });
    expect(await store.claim(run("b", 2), { overlap: "skip" })).toMatchObject({ run: { status: "skipped" } });
    const outcome = { attempt: 1, durationMs: 1, result: null, reason: null, errorMessage: null, errorStack: null };
    expect(await store.finish("a", { status: "succeeded", finishedAt: at(2), ...outcome })).toBe(true);
    expect(await store.claim(run("c", 3), { overlap: "skip" })).toMatchObject({ run: { status: "running" } });
    expect(await store.abandonExpired(at(20), 10)).toBe(1);
    expect((await store.get("c"))?.status).toBe("abandoned");
    expect(await store.abandonExpired(at(20), 10)).toBe(0);
    expect(await store.claim(run("d", 21), { overlap: "skip" })).toMatchObject({ run: { status: "running" } });
  });
});

describe("runner on the memory store", () => {
  it("runs a tick once when the same process fires it twice at once", async () => {
    let executions = 0;
    const task = defineTask({
      id: "once",
      schedule: "* * * * *",
      run: async () => {
        executions++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      },
    });
    const adapter = manualAdapter();
    const upkeep = registerTasks(adapter, { tasks: [task], logger: silentLogger });
    await upkeep.start();
    const at = new Date("2026-01-01T00:01:00Z");
    const [a, b] = await Promise.all([adapter.fire("once", at), adapter.fire("once", at)]);
    expect(executions).toBe(1);
    expect(a?.id).toBe(b?.id);
    expect((await upkeep.runs()).map((run) => run.status)).toEqual(["succeeded"]);
    await upkeep.stop();
  });

  it("records a skip asked for by the task with its reason", async () => {
    const task = defineTask({ id: "nothing", schedule: "* * * * *", run: (ctx) => ctx.skip("too little data: 3 rows, need 100") });
    const upkeep = registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger });
    const run = await upkeep.run("nothing");
    expect(run.status).toBe("skipped");
    expect(run.reason).toBe("too little data: 3 rows, need 100");
  });

  it("delivers progress and security events to subscribers and survives a throwing handler", async () => {
    const task = defineTask({
      id: "events",
      schedule: "* * * * *",
      run: (ctx) => {
        ctx.progress({ done: 1, total: 2, unit: "rows" });
        ctx.emit({ type: "agent.suspended", security: true, data: { tokenId: 7 } });
        ctx.emit({ type: "billing.upgraded", data: { accountId: 1 } });
        return "ok";
      },
    });
    const upkeep = registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger });
    const progress: number[] = [];
    const security: string[] = [];
    const all: string[] = [];
    upkeep.on("run:progress", ({ progress: p }) => {
      progress.push(p.done);
    });
    upkeep.on("security", ({ event }) => {
      security.push(event.type);
      throw new Error("handler bug");
    });
    upkeep.on("event", ({ event }) => {
      all.push(event.type);
    });
    const run = await upkeep.run("events");
    expect(run.status).toBe("succeeded");
    expect(progress).toEqual([1]);
    expect(security).toEqual(["agent.suspended"]);
    expect(all).toEqual(["agent.suspended", "billing.upgraded"]);
  });

  it("records a description for a rejection with undefined and for thrown plain objects, never their values", async () => {
    const thrown: Record<string, unknown> = {
      undefined: undefined,
      null: null,
      withMessage: { message: "quota exceeded", code: 429 },
      secretive: { apiKey: "sk_live_do_not_log", status: 500 },
      empty: {},
      number: 42,
    };
    const tasks = Object.entries(thrown).map(([name, value]) =>
      defineTask({ id: name.toLowerCase(), schedule: "* * * * *", run: () => Promise.reject(value) }),
    );
    const upkeep = registerTasks(manualAdapter(), { tasks, logger: silentLogger });
    const messages: Record<string, string | null> = {};
    for (const name of Object.keys(thrown)) {
      const run = await upkeep.run(name.toLowerCase());
      expect(run.status).toBe("failed");
      messages[name] = run.errorMessage;
    }
    expect(messages).toEqual({
      undefined: "non-error value thrown: undefined (a rejection or throw without an error)",
      null: "non-error value thrown: null (a rejection or throw without an error)",
      withMessage: "quota exceeded",
      secretive: "non-error value thrown: an object with keys apiKey, status",
      empty: "non-error value thrown: an object with no keys",
      number: "non-error value thrown: number 42",
    });
  });

  it("refuses an unknown task id naming the known ones", async () => {
    const task = defineTask({ id: "known", schedule: "* * * * *", run: () => {} });
    const upkeep = registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger });
    await expect(upkeep.run("unknown")).rejects.toThrow(/no task "unknown" is registered \(known: known\)/);
  });

  it("validates a manual run's input override against the task's schema", async () => {
    const { z } = await import("zod");
    const task = defineTask({
      id: "typed",
      schedule: "* * * * *",
      input: z.object({ limit: z.number().int().positive() }),
      defaultInput: { limit: 10 },
      run: (_ctx, input) => input.limit,
    });
    const upkeep = registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger });
    expect((await upkeep.run("typed", { input: { limit: 3 } })).result).toBe(3);
    await expect(upkeep.run("typed", { input: { limit: -1 } })).rejects.toThrow(/input\.limit/);
  });
});

describe("manual runs", () => {
  it("never collide with each other or with the scheduled tick of the same moment", async () => {
    const at = new Date("2026-01-01T03:00:00.000Z");
    let calls = 0;
    const task = defineTask({
      id: "fixed-clock",
      schedule: "0 3 * * *",
      run: () => {
        calls++;
      },
    });
    const adapter = manualAdapter();
    const upkeep = registerTasks(adapter, { tasks: [task], logger: silentLogger, clock: () => at });
    await upkeep.start();
    const manual = [await upkeep.run("fixed-clock"), await upkeep.run("fixed-clock")];
    const scheduled = await adapter.fire("fixed-clock", at);
    expect(new Set([...manual.map((run) => run.id), scheduled?.id]).size).toBe(3);
    expect([...manual.map((run) => run.status), scheduled?.status]).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(calls).toBe(3);
    await upkeep.stop();
  });
});

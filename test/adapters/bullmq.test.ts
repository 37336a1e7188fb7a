import { bullmqAdapter } from "@upkeep/bullmq";
import { AdapterError, defineTask, registerTasks, SECOND_TICKS, silentLogger } from "@upkeep/core";
import { createTestDatabase, type RunOracle, runOracle, testAdapter } from "@upkeep/testkit";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { Redis as Redis6 } from "ioredis6";
import { afterAll, describe, expect, it } from "vitest";
import { type FixtureProcess, killHard, startFixture, untilOutput } from "../fixtures/child.ts";

const REDIS_URL = process.env.UPKEEP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
afterAll(async () => {
  await connection.quit();
});

/** Deletes every key of a BullMQ prefix. */
async function dropPrefix(prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await connection.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    if (keys.length > 0) await connection.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}

testAdapter({
  name: "bullmq",
  dialects: ["postgres", "mariadb"],
  createAdapter: ({ namespace }) => bullmqAdapter({ connection, prefix: namespace }),
  cleanup: ({ namespace }) => dropPrefix(namespace),
});

// The same contract with the host's connection from ioredis 6 (installed as the `ioredis6` alias):
// BullMQ accepts ioredis >= 5, and `npm i bullmq ioredis` installs 6.
const connection6 = new Redis6(REDIS_URL, { maxRetriesPerRequest: null });
afterAll(async () => {
  await connection6.quit();
});
testAdapter({
  name: "bullmq on ioredis 6",
  dialects: ["postgres"],
  createAdapter: ({ namespace }) => bullmqAdapter({ connection: connection6, prefix: namespace }),
  cleanup: ({ namespace }) => dropPrefix(namespace),
});

describe("ioredis 6", () => {
  it("is the major the second contract run uses", async () => {
    const pkg = (await import("ioredis6/package.json", { with: { type: "json" } })).default as { version: string };
    expect(pkg.version.split(".")[0]).toBe("6");
  });
});

describe("bullmqAdapter", () => {
  let prefixes = 0;
  const freshPrefix = () => `upkb${process.pid}x${++prefixes}`;
  const task = (id: string, schedule = "0 3 * * *") => defineTask({ id, schedule, run: () => {} });

  it("refuses a connection without maxRetriesPerRequest: null with an error naming the fix, not the URL", () => {
    const plain = new Redis(REDIS_URL, { lazyConnect: true });
    try {
      const attempt = () => bullmqAdapter({ connection: plain });
      expect(attempt).toThrow(AdapterError);
      expect(attempt).toThrow(/\[upkeep\] \[bullmq\] connection: .*maxRetriesPerRequest: null/);
      expect(attempt).not.toThrow(/6379/);
      // A scheduler-only process runs no worker, so a fail-fast connection is fine there.
      expect(() => bullmqAdapter({ connection: plain, worker: false })).not.toThrow();
    } finally {
      plain.disconnect();
    }
  });

  it("upserts a scheduler per task with the job template bounds, only when it changed, and removes unregistered ones", async () => {
    const prefix = freshPrefix();
    const queue = new Queue("upkeep", { connection, prefix });
    const deploy = async (tasks: ReturnType<typeof task>[], timezone = "UTC") => {
      const upkeep = registerTasks(bullmqAdapter({ connection, prefix, worker: false, keep: { completed: 10, failed: 20 } }), {
        tasks,
        timezone,
        logger: silentLogger,
      });
      await upkeep.start();
      await upkeep.stop();
    };
    try {
      await deploy([task("a"), task("b", "10 * * * *")]);
      const first = await queue.getJobSchedulers(0, -1);
      expect(first.map((s) => [s.key, s.pattern, s.tz]).sort()).toEqual([
        ["a", "0 3 * * *", "UTC"],
        ["b", "10 * * * *", "UTC"],
      ]);
      expect(first[0]?.template?.opts).toMatchObject({ removeOnComplete: 10, removeOnFail: 20 });

      // Mark a's template behind upkeep's back: a redeploy with the same task set must not rewrite it.
      await queue.upsertJobScheduler(
        "a",
        { pattern: "0 3 * * *", tz: "UTC" },
        { name: "a", data: { marker: 1 }, opts: { removeOnComplete: 10, removeOnFail: 20 } },
      );
      await deploy([task("a"), task("b", "10 * * * *")]);
      expect((await queue.getJobScheduler("a"))?.template?.data).toEqual({ marker: 1 });
      expect(await queue.getJobSchedulersCount()).toBe(2);

      // A timezone change rewrites it; a task gone from the config loses its scheduler.
      await deploy([task("a")], "Europe/Paris");
      const last = await queue.getJobSchedulers(0, -1);
      expect(last.map((s) => [s.key, s.tz])).toEqual([["a", "Europe/Paris"]]);
      expect((await queue.getJobScheduler("a"))?.template?.data ?? {}).toEqual({});
    } finally {
      await queue.close();
      await dropPrefix(prefix);
    }
  });

  it("runs a job that BullMQ delivers twice (a stalled, retried job) once, through the runner's claim", async () => {
    const prefix = freshPrefix();
    const database = await createTestDatabase("sqlite");
    const queue = new Queue("upkeep", { connection, prefix });
    let executions = 0;
    const upkeep = registerTasks(bullmqAdapter({ connection, prefix }), {
      tasks: [defineTask({ id: "once", schedule: "0 3 * * *", run: () => void executions++ })],
      db: database.knex,
      logger: silentLogger,
    });
    try {
      await upkeep.start();
      const tick = Date.UTC(2026, 0, 1, 3);
      await queue.add("once", {}, { prevMillis: tick });
      await queue.add("once", {}, { prevMillis: tick });
      await expect.poll(() => queue.getCompletedCount(), { timeout: 10_000 }).toBe(2);
      const runs = await runOracle(database.knex).runs("once");
      expect(runs.map((run) => [run.scheduledFor, run.status])).toEqual([[tick, "succeeded"]]);
      expect(executions).toBe(1);
    } finally {
      await upkeep.stop();
      await queue.close();
      await dropPrefix(prefix);
      await database.destroy();
    }
  });

  describe("when Redis loses its data", () => {
    const poll = { timeout: 20_000, interval: 200 };
    const succeeded = async (oracle: RunOracle, id: string, after = 0) =>
      (await oracle.runs(id)).filter((run) => run.status === "succeeded" && run.scheduledFor > after);

    /**
     * Runs `body` with a fresh BullMQ prefix, PostgreSQL database and queue, and a way to start
     * worker processes (tasks every second, a periodic check every second); cleans up after.
     */
    async function withWorkers(
      body: (scene: { prefix: string; oracle: RunOracle; queue: Queue; worker(ids: string[]): Promise<void> }) => Promise<void>,
    ): Promise<void> {
      const prefix = freshPrefix();
      const database = await createTestDatabase("postgres");
      const queue = new Queue("upkeep", { connection, prefix });
      const children: FixtureProcess[] = [];
      // Started one after the other by the tests: the first start migrates the schema.
      const worker = async (ids: string[]) => {
        const child = startFixture("bullmq-worker", [database.dialect, database.target, "lost_", prefix, "1000", ids.join(",")]);
        children.push(child);
        await untilOutput(child, (output) => output.includes("ready"));
      };
      try {
        await body({ prefix, oracle: runOracle(database.knex, "lost_"), queue, worker });
      } finally {
        for (const child of children) await killHard(child);
        await queue.close();
        await dropPrefix(prefix);
        await database.destroy();
      }
    }

    /** Drops one client of ours and waits until it is back, as a Redis restart drops every client. */
    async function dropClient(own: Redis): Promise<void> {
      const reconnected = new Promise((resolve) => own.once("ready", resolve));
      await connection.client("KILL", "ID", String(await own.client("ID")));
      await reconnected;
    }

    it(
      "re-creates the schedulers on the periodic check after the keys are deleted; two workers resume, each tick once",
      () =>
        withWorkers(async ({ prefix, oracle, queue, worker }) => {
          await worker(["beat"]);
          await worker(["beat"]);
          await expect.poll(async () => (await succeeded(oracle, "beat")).length, poll).toBeGreaterThanOrEqual(2);

          // What a Redis restart without persistence (or a FLUSHDB) does to this queue, and only to it.
          await dropPrefix(prefix);
          const lostAt = Date.now();
          expect(await queue.getJobSchedulersCount()).toBe(0);

          await expect.poll(async () => (await succeeded(oracle, "beat", lostAt + 1000)).length, poll).toBeGreaterThanOrEqual(3);
          expect(await oracle.duplicateTicks()).toEqual([]);
          // Both workers re-asserted at most one scheduler, with one pending iteration: nothing accumulates.
          expect((await queue.getJobSchedulers(0, -1)).map((scheduler) => scheduler.key)).toEqual(["beat"]);
          expect(await queue.getJobCountByTypes("delayed", "wait", "prioritized")).toBeLessThanOrEqual(1);
        }),
      60_000,
    );

    it(
      "never re-creates the scheduler of a task a newer deploy removed, though an older process still runs it",
      () =>
        withWorkers(async ({ prefix, oracle, queue, worker }) => {
          await worker(["kept", "dropped"]);
          await expect.poll(async () => (await succeeded(oracle, "dropped")).length, poll).toBeGreaterThanOrEqual(1);

          // The newer deploy's scheduler process no longer has "dropped"; "kept" is unchanged.
          const newer = registerTasks(
            bullmqAdapter({ connection, prefix, worker: false }),
            Object.assign({ tasks: [{ task: task("kept"), schedule: "* * * * * *" }], logger: silentLogger }, { [SECOND_TICKS]: true }),
          );
          await newer.start();
          await newer.stop();
          const removedAt = Date.now();
          expect((await queue.getJobSchedulers(0, -1)).map((scheduler) => scheduler.key)).toEqual(["kept"]);

          // Several periodic checks of the older process go by (one a second)...
          await expect.poll(async () => (await succeeded(oracle, "kept", removedAt + 1000)).length, poll).toBeGreaterThanOrEqual(4);
          // ...and none brings "dropped" back.
          expect((await queue.getJobSchedulers(0, -1)).map((scheduler) => scheduler.key)).toEqual(["kept"]);
          expect(await succeeded(oracle, "dropped", removedAt + 1000)).toEqual([]);
        }),
      60_000,
    );

    it("re-creates the schedulers when its connection comes back to an emptied Redis", async () => {
      const prefix = freshPrefix();
      const own = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      const queue = new Queue("upkeep", { connection, prefix });
      // No periodic check within the test: only the reconnect can bring the scheduler back.
      const upkeep = registerTasks(bullmqAdapter({ connection: own, prefix, worker: false, reconcileEvery: "1h" }), {
        tasks: [task("nightly")],
        logger: silentLogger,
      });
      try {
        await upkeep.start();
        await dropPrefix(prefix);
        await dropClient(own);
        await expect
          .poll(async () => (await queue.getJobSchedulers(0, -1)).map((scheduler) => scheduler.key), { timeout: 10_000 })
          .toEqual(["nightly"]);
      } finally {
        await upkeep.stop();
        await queue.close();
        await dropPrefix(prefix);
        own.disconnect();
      }
    });

    it("stops checking at stop(): a stopped process re-creates nothing", async () => {
      const prefix = freshPrefix();
      const own = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      const queue = new Queue("upkeep", { connection, prefix });
      const upkeep = registerTasks(bullmqAdapter({ connection: own, prefix, reconcileEvery: 100 }), {
        tasks: [task("nightly")],
        logger: silentLogger,
      });
      try {
        await upkeep.start();
        expect(await queue.getJobSchedulersCount()).toBe(1);
        await upkeep.stop();
        await dropPrefix(prefix);
        await dropClient(own);
        // Ten periods of the stopped timer, and a reconnect, go by.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(await queue.getJobSchedulersCount()).toBe(0);
      } finally {
        await queue.close();
        await dropPrefix(prefix);
        own.disconnect();
      }
    });
  });
});

import { bullmqAdapter } from "@upkeep/bullmq";
import { AdapterError, defineTask, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, runOracle, testAdapter } from "@upkeep/testkit";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";

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
});

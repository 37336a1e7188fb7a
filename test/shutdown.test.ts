import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The documented worker (test/fixtures/signal-worker.ts) on a real PostgreSQL, one process per
// case, sent SIGTERM while a run is in flight. The bug this pins: the documented
// `process.on("SIGTERM", () => void upkeep.stop())` stopped upkeep and then never exited.
const SCRIPT = fileURLToPath(new URL("fixtures/signal-worker.ts", import.meta.url));
// stop's timeout in the fixture is 10 s; a process still alive well after that has hung.
const HANG_MS = 30_000;
const [postgres] = await probeDialects(["postgres"]);

/** Deletes the BullMQ keys a case left (its job scheduler). */
async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(process.env.UPKEEP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379");
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

describe.skipIf(!postgres?.available)("a worker using upkeep.stopOnSignals()", { timeout: 90_000 }, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await database?.destroy();
  });

  for (const [index, kind] of (["croner", "bullmq"] as const).entries()) {
    it(`${kind}: exits 0 on SIGTERM and records the run in flight interrupted`, async () => {
      const prefix = `sig${index}_`;
      const bullPrefix = `upksig${process.pid}x${index}`;
      const child = spawn(
        process.execPath,
        ["--conditions=dev-source", "--import", "tsx", SCRIPT, kind, "postgres", database.target, prefix, bullPrefix],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      try {
        await expect.poll(() => output, { timeout: 30_000 }).toMatch(/running [0-9a-f-]{36}/);
        const runId = /running ([0-9a-f-]{36})/.exec(output)?.[1] as string;
        child.kill("SIGTERM");
        const hung = new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), HANG_MS).unref());
        expect(await Promise.race([exited, hung]), output).toBe(0);
        const run = await database.knex(`${prefix}runs`).where({ id: runId }).first("status", "reason");
        expect(run).toMatchObject({ status: "interrupted", reason: "shutdown" });
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
        if (kind === "bullmq") await dropPrefix(bullPrefix);
      }
    });
  }
});

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createTestDatabase, probeDialects, runOracle } from "@upkeep/testkit";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";

// Each example started once, the way its README says, and stopped again.
const run = promisify(execFile);
const examples = fileURLToPath(new URL("../examples/", import.meta.url));
const FAKE_CRONTAB = fileURLToPath(new URL("fixtures/fake-crontab.sh", import.meta.url));
const NODE_ARGS = ["--conditions=dev-source", "--import", "tsx"];

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const children: Started[] = [];
afterEach(() => {
  for (const { child } of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

function start(example: string, script: string, env: Record<string, string>, args: string[] = []): Started {
  const child = spawn(process.execPath, [...NODE_ARGS, script, ...args], { cwd: join(examples, example), env: { ...process.env, ...env } });
  let text = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const started = { child, output: () => text, exited };
  children.push(started);
  return started;
}

const [postgres] = await probeDialects(["postgres"]);

describe("examples", () => {
  it("demo --serve runs every task, serves the dashboard on the URL it prints, and stops on SIGTERM", { timeout: 90_000 }, async () => {
    const demo = start("demo", "src/main.ts", {}, ["--serve", "--port", "0"]);
    await expect.poll(() => demo.output(), { timeout: 60_000 }).toMatch(/Dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    const url = /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(demo.output())?.[1] as string;
    const tasks = await fetch(url);
    expect(tasks.status).toBe(200);
    expect(tasks.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await tasks.text();
    for (const id of ["cleanup", "heartbeats", "key-rotation", "billing-sync", "ioc-ingest", "training", "dependency-audit"]) {
      expect(html).toContain(`href="/tasks/${id}"`);
    }
    const runs = await (await fetch(new URL("tasks/cleanup", url))).text();
    expect(runs).toContain("succeeded");
    const runId = /href="\/runs\/([0-9a-f-]{36})"/.exec(runs)?.[1];
    expect(runId).toBeDefined();
    const run = await fetch(new URL(`runs/${runId}`, url));
    expect(run.status).toBe(200);
    expect(await run.text()).toContain("cleanup");
    demo.child.kill("SIGTERM");
    expect(await demo.exited).toBe(0);
  });

  for (const framework of ["node-http", "express", "fastify", "hono"]) {
    it(`dashboard-frameworks: ${framework} serves the dashboard under /ops/upkeep and takes a pause through it`, async () => {
      const app = start("dashboard-frameworks", `src/${framework}.ts`, { PORT: "0" });
      await expect.poll(() => app.output(), { timeout: 20_000 }).toMatch(/dashboard on http:\/\/127\.0\.0\.1:\d+\/ops\/upkeep\//);
      const url = /dashboard on (http:\/\/127\.0\.0\.1:\d+\/ops\/upkeep\/)/.exec(app.output())?.[1] as string;
      const tasks = await fetch(url);
      expect(tasks.status).toBe(200);
      const html = await tasks.text();
      expect(html).toContain('href="/ops/upkeep/tasks/tidy"');
      expect(html).toContain('href="/ops/upkeep/assets/dashboard.css?v=');
      expect((await fetch(new URL("assets/dashboard.css", url))).headers.get("content-type")).toContain("text/css");
      // The pause form, posted as the browser would: the CSRF cookie, the form's token, same origin.
      const cookie = /upkeep_csrf=[^;]+/.exec(tasks.headers.get("set-cookie") ?? "")?.[0];
      const token = /action="\/ops\/upkeep\/tasks\/tidy\/pause"><input type="hidden" name="csrf" value="([^"]+)"/.exec(html)?.[1];
      expect(cookie && token).toBeTruthy();
      const paused = await fetch(new URL("tasks/tidy/pause", url), {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookie as string, origin: new URL(url).origin },
        body: new URLSearchParams({ csrf: token as string, reason: `paused through ${framework}` }).toString(),
      });
      expect(paused.status).toBe(303);
      expect(paused.headers.get("location")).toBe("/ops/upkeep/tasks/tidy");
      expect(await (await fetch(new URL("tasks/tidy", url))).text()).toContain(`paused through ${framework}`);
      // The app's own routes are still the app's.
      expect(await (await fetch(new URL("/", url))).text()).toBe("the app's own routes");
      app.child.kill("SIGTERM");
      expect(await app.exited).toBe(0);
    });
  }

  it("express-croner serves requests with upkeep scheduled and stops cleanly on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "upkeep-express-"));
    try {
      const app = start("express-croner", "src/server.ts", { PORT: "0", DATABASE_FILE: join(dir, "app.sqlite") });
      await expect.poll(() => app.output(), { timeout: 20_000 }).toMatch(/listening on http:\/\/localhost:\d+/);
      const port = /localhost:(\d+)/.exec(app.output())?.[1];
      const created = await fetch(`http://localhost:${port}/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "ada" }),
      });
      expect(created.status).toBe(201);
      const tasks = (await (await fetch(`http://localhost:${port}/upkeep`)).json()) as Array<{ id: string; nextRun: string }>;
      expect(tasks.map((task) => task.id)).toEqual(["expire-sessions"]);
      expect(new Date(tasks[0]?.nextRun ?? 0).getUTCMinutes() % 5).toBe(0);
      app.child.kill("SIGTERM");
      expect(await app.exited).toBe(0);
      expect(app.output()).toContain("stopped");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!postgres?.available)("bullmq-workers: the scheduler keeps the schedulers and one of two workers runs each job", async () => {
    const database = await createTestDatabase("postgres");
    const connection = new Redis(process.env.UPKEEP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
    const prefix = `upkex${process.pid}`;
    const queue = new Queue("upkeep", { connection, prefix });
    const env = { DATABASE_URL: database.target, UPKEEP_BULL_PREFIX: prefix, UPKEEP_TABLE_PREFIX: "ex_" };
    try {
      const scheduler = start("bullmq-workers", "src/scheduler.ts", env);
      await expect.poll(() => scheduler.output(), { timeout: 20_000 }).toContain("scheduler ready");
      const workers = [start("bullmq-workers", "src/worker.ts", env), start("bullmq-workers", "src/worker.ts", env)];
      for (const worker of workers) await expect.poll(() => worker.output(), { timeout: 20_000 }).toMatch(/worker \d+ ready/);
      const schedulers = await queue.getJobSchedulers(0, -1);
      expect(schedulers.map((s) => [s.key, s.pattern, s.tz]).sort()).toEqual([
        ["report-queue-depth", "* * * * *", "UTC"],
        ["vacuum-audit", "30 3 * * *", "Europe/Berlin"],
      ]);
      // Deliver this minute's job now, as the scheduler will at the minute, twice (a stalled retry).
      const tick = Math.floor(Date.now() / 60_000) * 60_000;
      await queue.add("report-queue-depth", {}, { prevMillis: tick });
      await queue.add("report-queue-depth", {}, { prevMillis: tick });
      const oracle = runOracle(database.knex, "ex_");
      await expect
        .poll(async () => (await oracle.runs("report-queue-depth")).filter((r) => r.status === "succeeded").length, { timeout: 20_000 })
        .toBeGreaterThanOrEqual(1);
      expect(await oracle.duplicateTicks()).toEqual([]);
      for (const child of [scheduler, ...workers]) child.child.kill("SIGTERM");
      expect(await Promise.all([scheduler, ...workers].map((child) => child.exited))).toEqual([0, 0, 0]);
    } finally {
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await connection.quit();
      await database.destroy();
    }
  });

  it("system-cron prints and installs its crontab block, and the installed line runs the task as cron would", async () => {
    const dir = mkdtempSync(join(tmpdir(), "upkeep-system-cron-"));
    const crontabFile = join(dir, "crontab");
    const env = { ...process.env, CRONTAB: FAKE_CRONTAB, FAKE_CRONTAB_FILE: crontabFile };
    const cli = (...args: string[]) =>
      run(process.execPath, [...NODE_ARGS, "src/cli.ts", ...args], { cwd: join(examples, "system-cron"), env });
    try {
      const printed = (await cli("crontab")).stdout;
      expect(printed).toMatch(/^# BEGIN upkeep:system-cron-example/);
      expect(printed).toContain("src/cli.ts run stamp --scheduled");
      expect((await cli("crontab", "--install")).stdout.trim()).toBe("installed");
      expect((await cli("crontab", "--install")).stdout.trim()).toBe("already installed");
      const line = readFileSync(crontabFile, "utf8")
        .split("\n")
        .find((text) => text.includes("run stamp")) as string;
      await run("env", ["-i", "sh", "-c", line.split(" ").slice(5).join(" ").replace(/\\%/g, "%")]);
      const stamped = readFileSync(join(examples, "system-cron", ".upkeep", "last-stamp"), "utf8").trim();
      expect(new Date(stamped).getTime() % 60_000).toBe(0);
      expect((await cli("crontab", "--uninstall")).stdout.trim()).toBe("removed");
      expect(readFileSync(crontabFile, "utf8")).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

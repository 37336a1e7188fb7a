import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { main } from "@upkeep/cli";
import { markers } from "@upkeep/cron";
import { createTestDatabase, runOracle, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAsCron } from "./run-as-cron.ts";

// `upkeep crontab` and `upkeep tick`: the block is installed through a file-backed crontab command,
// and the installed lines are run the way cron runs them, starting the real `upkeep` bin.
const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "packages/cli/src/bin.ts");
const FAKE_CRONTAB = join(ROOT, "test/fixtures/fake-crontab.sh");
const require = createRequire(import.meta.url);
const TSX = pathToFileURL(require.resolve("tsx")).href;

describe("upkeep crontab and upkeep tick", () => {
  let database: TestDatabase;
  let app: string;
  let crontabFile: string;
  const output = { stdout: "", stderr: "" };
  const cli = async (...args: string[]) => {
    output.stdout = "";
    output.stderr = "";
    const extra = args[0] === "crontab" ? ["--crontab-command", FAKE_CRONTAB] : [];
    const code = await main([...args, ...extra], {
      cwd: app,
      tty: false,
      stdout: (text) => {
        output.stdout += text;
      },
      stderr: (text) => {
        output.stderr += text;
      },
    });
    return code;
  };

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    app = mkdtempSync(join(tmpdir(), "upkeep cli app 100% "));
    crontabFile = join(app, "crontab");
    process.env.FAKE_CRONTAB_FILE = crontabFile;
    writeFileSync(
      join(app, "upkeep.config.ts"),
      [
        `import { defineConfig, defineTask } from ${JSON.stringify(join(ROOT, "packages/core/src/index.ts"))};`,
        `import knex from ${JSON.stringify(require.resolve("knex"))};`,
        "export default defineConfig({",
        `  db: knex({ client: "better-sqlite3", connection: { filename: ${JSON.stringify(database.target)} }, useNullAsDefault: true }),`,
        '  tasks: [defineTask({ id: "stamp", schedule: "* * * * *", run: () => ({ cwd: process.cwd() }) })],',
        "});",
        "",
      ].join("\n"),
    );
    // The app's own `upkeep` bin, reachable only through the PATH the rendered line sets.
    mkdirSync(join(app, "node_modules", ".bin"), { recursive: true });
    const bin = join(app, "node_modules", ".bin", "upkeep");
    writeFileSync(bin, `#!/bin/sh\nexec node --conditions=dev-source --import '${TSX}' '${BIN}' "$@"\n`);
    chmodSync(bin, 0o755);
  });
  afterAll(async () => {
    rmSync(app, { recursive: true, force: true });
    await database?.destroy();
  });

  it("prints the block, installs it once, and removes it again, leaving the user's lines", async () => {
    expect(await cli("crontab", "--cron-timezone", "UTC")).toBe(0);
    expect(output.stdout.split("\n")[0]).toBe(markers().begin);
    expect(output.stdout).toContain("* * * * * cd ");
    expect(output.stdout).toContain("&& upkeep run stamp --scheduled");
    writeFileSync(crontabFile, "15 4 * * * /usr/local/bin/backup\n");
    expect(await cli("crontab", "--install")).toBe(0);
    expect(output.stdout).toContain("Installed");
    expect(await cli("crontab", "--install")).toBe(0);
    expect(output.stdout).toContain("already has this block");
    expect(readFileSync(crontabFile, "utf8").split(markers().begin)).toHaveLength(2);
    expect(await cli("crontab", "--uninstall")).toBe(0);
    expect(readFileSync(crontabFile, "utf8")).toBe("15 4 * * * /usr/local/bin/backup\n");
    expect(await cli("crontab", "--install", "--uninstall")).toBe(2);
  });

  it("the installed per-task line runs `upkeep run stamp --scheduled` from the app directory under cron's bare environment", async () => {
    expect(await cli("crontab", "--install", "--log", "cron.log")).toBe(0);
    const line = readFileSync(crontabFile, "utf8")
      .split("\n")
      .find((text) => text.includes("run stamp --scheduled")) as string;
    await runAsCron(line);
    const runs = await runOracle(database.knex).runs("stamp");
    expect(runs.map((run) => [run.trigger, run.status])).toContainEqual(["schedule", "succeeded"]);
    expect(runs.every((run) => run.scheduledFor % 60_000 === 0)).toBe(true);
    expect(readFileSync(join(app, "cron.log"), "utf8")).toMatch(/stamp: succeeded|already claimed/);
    await cli("crontab", "--uninstall");
  });

  it("the single tick line runs what is due; two hosts ticking the same minute record one run per tick", async () => {
    expect(await cli("crontab", "--install", "--tick", "--name", "ticker")).toBe(0);
    const line = readFileSync(crontabFile, "utf8")
      .split("\n")
      .find((text) => text.endsWith("upkeep tick")) as string;
    expect(line.startsWith("* * * * * ")).toBe(true);
    await Promise.all([runAsCron(line), runAsCron(line)]);
    const oracle = runOracle(database.knex);
    expect(await oracle.duplicateTicks()).toEqual([]);
    expect((await oracle.runs("stamp")).every((run) => run.status === "succeeded")).toBe(true);
    // Once more by hand, a fresh process as cron starts one: still one run per tick.
    const { stdout } = await exec(join(app, "node_modules", ".bin", "upkeep"), ["tick", "--json"], { cwd: app });
    const { runs } = JSON.parse(stdout) as { runs: Array<{ run: { taskId: string }; servedElsewhere: boolean }> };
    expect(runs.map((entry) => entry.run.taskId)).toEqual(["stamp"]);
    expect(await oracle.duplicateTicks()).toEqual([]);
  });

  it("a paused task's crontab lines run nothing until `upkeep resume`", { timeout: 120_000 }, async () => {
    // Each command in a process of its own, as cron starts them (the config's knex closes with the command).
    const bin = async (...args: string[]) => (await exec(join(app, "node_modules", ".bin", "upkeep"), args, { cwd: app })).stdout;
    expect(await bin("pause", "stamp", "--reason", "maintenance window")).toContain("stamp: paused (maintenance window)");
    const before = (await runOracle(database.knex).runs("stamp")).length;
    expect(await bin("run", "stamp", "--scheduled")).toBe("stamp: paused; the tick was not run\n");
    // Without the pause, tick would report this minute's run (or the one another host claimed).
    expect(JSON.parse(await bin("tick", "--json"))).toEqual({ runs: [] });
    expect((await runOracle(database.knex).runs("stamp")).length).toBe(before);
    await bin("resume", "stamp");
    const { runs } = JSON.parse(await bin("tick", "--json")) as { runs: Array<{ run: { taskId: string } }> };
    expect(runs.map((entry) => entry.run.taskId)).toEqual(["stamp"]);
  });
});

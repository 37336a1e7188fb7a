import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { main } from "@upkeep/cli";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "packages/cli/src/bin.ts");
const FIXTURES = join(ROOT, "test/fixtures/cli");
// By URL, so the child finds tsx whatever its working directory.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const NOW = "2026-01-15T12:00:00Z";

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `upkeep` bin from source in a child process; `onStdout` sees output as it comes. */
function upkeep(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; onStdout?: (text: string, child: ChildProcess) => void } = {},
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=dev-source", "--import", TSX, BIN, ...args], {
      cwd: options.cwd ?? FIXTURES,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

interface JsonRun {
  id: string;
  taskId: string;
  status: string;
  trigger: string;
  dryRun: boolean;
  attempt: number;
  scheduledFor: string;
  result: Record<string, unknown> | null;
}

let prefixes = 0;

for (const { dialect, available } of await probeDialects()) {
  // Each case starts the real bin several times; a loaded machine takes seconds per start.
  describe.skipIf(!available)(`upkeep CLI on ${dialect}`, { timeout: 120_000 }, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    /** The environment the fixture config reads: this suite's database, a fresh table prefix, a clock starting at NOW. */
    const fresh = () => {
      const prefix = `cli${++prefixes}_`;
      return {
        prefix,
        env: {
          UPKEEP_CLI_DIALECT: dialect,
          UPKEEP_CLI_TARGET: database.target,
          UPKEEP_CLI_PREFIX: prefix,
          UPKEEP_CLI_CLOCK_OFFSET_MS: String(Date.parse(NOW) - Date.now()),
        },
      };
    };

    it("migrate creates upkeep's tables, and says so when they are up to date", async () => {
      const { prefix, env } = fresh();
      const first = await upkeep(["migrate"], { env });
      expect(first.code).toBe(0);
      expect(first.stdout).toContain("0001_runs");
      expect(await database.knex.schema.hasTable(`${prefix}runs`)).toBe(true);
      expect(await database.knex.schema.hasTable(`${prefix}migrations`)).toBe(true);
      const again = await upkeep(["migrate", "--json"], { env });
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ tablePrefix: prefix, applied: [] });
    });

    it("list shows each task's next run in its own timezone, as a table and as JSON", async () => {
      const { env } = fresh();
      expect((await upkeep(["migrate"], { env })).code).toBe(0);
      const text = await upkeep(["list"], { env });
      expect(text.code).toBe(0);
      const lines = text.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^ID\s+SCHEDULE\s+TIMEZONE\s+NEXT RUN\s+LAST RUN$/);
      expect(lines.find((line) => line.startsWith("greet "))).toMatch(
        /^greet\s+0 3 \* \* \*\s+Europe\/Berlin\s+2026-01-16 03:00 \(in 1[34]h(?: \d+m)?\)\s+never run$/,
      );
      // Aligned: every row's schedule starts in the same column as the header's.
      const column = lines[0]?.indexOf("SCHEDULE");
      for (const line of lines.slice(1)) expect(line.slice(0, column)).toMatch(/\S\s+$/);

      const json = await upkeep(["list", "--json"], { env });
      const tasks = (JSON.parse(json.stdout) as { tasks: Array<{ id: string; nextRun: string; timezone: string }> }).tasks;
      expect(tasks.map((task) => task.id)).toEqual(["greet", "explode", "idle", "flaky", "wait"]);
      expect(tasks[0]).toMatchObject({ timezone: "Europe/Berlin", nextRun: "2026-01-16T02:00:00.000Z" });

      // A dry run is the last run shown, and marked as one (it read as a real "succeeded").
      expect((await upkeep(["run", "greet", "--dry-run"], { env })).code).toBe(0);
      const after = (await upkeep(["list"], { env })).stdout.split("\n");
      expect(after.find((line) => line.startsWith("greet "))).toMatch(/\ssucceeded \(dry run\) (now|\d+s ago)$/);
      const last = (JSON.parse((await upkeep(["list", "--json"], { env })).stdout) as { tasks: Array<{ lastRun: unknown }> }).tasks[0];
      expect(last?.lastRun).toMatchObject({ status: "succeeded", dryRun: true });
    });

    it("run exits 0 for a succeeded run, prints its result, and records it in the history table", async () => {
      const { prefix, env } = fresh();
      const out = await upkeep(["run", "greet", "--input", '{"name":"ada"}'], { env });
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^greet: succeeded in \d+ ms \(manual run [0-9a-f-]{36}\)$/m);
      expect(out.stdout).toContain('"greeted": "ada"');
      const rows = await database.knex(`${prefix}runs`).where({ task_id: "greet" });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: "succeeded", trigger: "manual" });
      expect(JSON.parse(String(rows[0].result))).toMatchObject({ greeted: "ada" });
    });

    it("run --input cannot unprotect a table of the configuration, by emptying the list or by case: exits 2 naming the field", async () => {
      const { env } = fresh();
      const db = database.knex;
      await db.schema.dropTableIfExists("cli_accounts");
      await db.schema.createTable("cli_accounts", (table) => {
        table.increments("id");
      });
      await db("cli_accounts").insert([{ id: 1 }, { id: 2 }]);
      const args = ["run", "cleanup", "--config", "cleanup-guards.config.ts", "--input"];
      const unprotect = await upkeep([...args, '{"protectedTables":[],"policies":[{"table":"cli_accounts","where":"1 = 1"}]}'], { env });
      expect(unprotect.code).toBe(2);
      expect(unprotect.stderr).toContain('input.policies.0.table: table "cli_accounts" is protected');
      const renamed = await upkeep([...args, '{"policies":[{"table":"CLI_ACCOUNTS","where":"1 = 1"}]}'], { env });
      expect(renamed.code).toBe(2);
      expect(renamed.stderr).toContain('table "CLI_ACCOUNTS" is protected (as "cli_accounts")');
      expect((await db("cli_accounts").select("id")).length).toBe(2);
    });

    it("run exits 1 when the task fails, with the error and its reason", async () => {
      const { prefix, env } = fresh();
      const out = await upkeep(["run", "explode"], { env });
      expect(out.code).toBe(1);
      expect(out.stdout).toContain("explode: failed");
      expect(out.stdout).toContain("error: [upkeep] the fixture task failed on purpose (FIXTURE_FAILURE)");
      const row = await database.knex(`${prefix}runs`).where({ task_id: "explode" }).first();
      expect(row).toMatchObject({ status: "failed", reason: "FIXTURE_FAILURE" });
    });

    it("run retries a retryable TaskError thrown by a config task (the config and the CLI share @upkeep/core)", async () => {
      const { env } = fresh();
      const out = await upkeep(["run", "flaky", "--json", "--log-level", "silent"], { env });
      expect(out.code).toBe(0);
      const { run } = JSON.parse(out.stdout) as { run: JsonRun };
      expect(run).toMatchObject({ status: "succeeded", attempt: 2, result: { attempt: 2 } });
    });

    it("run --dry-run reaches ctx.dryRun and is recorded as a dry run", async () => {
      const { prefix, env } = fresh();
      const out = await upkeep(["run", "greet", "--dry-run", "--json"], { env });
      expect(out.code).toBe(0);
      const { run } = JSON.parse(out.stdout) as { run: JsonRun };
      expect(run.dryRun).toBe(true);
      expect(run.result).toMatchObject({ dryRun: true });
      const row = await database.knex(`${prefix}runs`).where({ id: run.id }).first();
      expect(Boolean(row.dry_run)).toBe(true);
    });

    it("run --scheduled serves the current minute's tick once, however many processes ask", async () => {
      const { prefix, env } = fresh();
      const first = await upkeep(["run", "greet", "--scheduled", "--json"], { env });
      expect(first.code).toBe(0);
      const served = JSON.parse(first.stdout) as { run: JsonRun; servedElsewhere: boolean };
      // greet runs daily at 03:00 Europe/Berlin; at 12:00 UTC the tick it serves is 02:00 UTC.
      expect(served).toMatchObject({ servedElsewhere: false, run: { trigger: "schedule", scheduledFor: "2026-01-15T02:00:00.000Z" } });
      const second = await upkeep(["run", "greet", "--scheduled"], { env });
      expect(second.code).toBe(0);
      expect(second.stdout).toContain("was already claimed");
      expect(await database.knex(`${prefix}runs`).where({ task_id: "greet" })).toHaveLength(1);
    });

    it("Ctrl-C during run aborts the task's signal, records the run interrupted and exits 1", async () => {
      const { prefix, env } = fresh();
      let sent = false;
      const out = await upkeep(["run", "wait"], {
        env,
        onStdout: (text, child) => {
          if (!sent && text.includes("waiting")) {
            sent = true;
            child.kill("SIGINT");
          }
        },
      });
      expect(out.code).toBe(1);
      expect(out.stdout).toContain("wait: interrupted");
      expect(out.stdout).toContain('"stoppedBy": "shutdown"');
      const row = await database.knex(`${prefix}runs`).where({ task_id: "wait" }).first();
      expect(row).toMatchObject({ status: "interrupted", reason: "shutdown" });
    });

    it("health exits 0 while no task is late, missed or failing, and 1 with the failing task named, as a table and as JSON", async () => {
      const { env } = fresh();
      expect((await upkeep(["migrate"], { env })).code).toBe(0);
      const fresh0 = await upkeep(["health", "--json"], { env });
      expect(fresh0.code).toBe(0);
      const before = JSON.parse(fresh0.stdout) as { healthy: boolean; tasks: Array<{ id: string; state: string }> };
      expect(before.healthy).toBe(true);
      expect(before.tasks.map((task) => task.state)).toEqual(["new", "new", "new", "new", "new"]);
      // A crontab line serves explode's 12:00 tick, which fails; a manual failure would not count.
      expect((await upkeep(["run", "explode", "--scheduled", "--log-level", "silent"], { env })).code).toBe(1);
      const text = await upkeep(["health"], { env });
      expect(text.code).toBe(1);
      const lines = text.stdout.split("\n");
      expect(lines[0]).toMatch(/^TASK\s+STATE\s+LAST TICK RUN\s+DETAIL$/);
      expect(text.stdout).toMatch(
        /^explode\s+failing\s+failed .*1 failed tick run in a row; last: failed: \[upkeep\] the fixture task failed on purpose/m,
      );
      expect(text.stdout).toMatch(/^greet\s+new\s+never run/m);
      expect(text.stdout).toContain("1 of 5 tasks are late, missed or failing.");
      const after = JSON.parse((await upkeep(["health", "--json"], { env })).stdout) as {
        healthy: boolean;
        tasks: Array<{ id: string; state: string; consecutiveFailures: number }>;
      };
      expect(after.healthy).toBe(false);
      expect(after.tasks.find((task) => task.id === "explode")).toMatchObject({ state: "failing", consecutiveFailures: 1 });
    });

    it("pause stops a task's scheduled ticks on every host until resume; a manual run still works", async () => {
      const { prefix, env } = fresh();
      const paused = await upkeep(["pause", "greet", "--reason", "table rebuild"], { env });
      expect(paused.code).toBe(0);
      expect(paused.stdout).toContain("greet: paused (table rebuild)");
      const health = JSON.parse((await upkeep(["health", "--json"], { env })).stdout) as {
        tasks: Array<{ id: string; state: string; detail: string }>;
      };
      expect(health.tasks.find((task) => task.id === "greet")).toMatchObject({ state: "paused", detail: "paused: table rebuild" });
      const line = await upkeep(["run", "greet", "--scheduled"], { env });
      expect(line.code).toBe(0);
      expect(line.stdout).toBe("greet: paused; the tick was not run\n");
      expect(await database.knex(`${prefix}runs`).where({ task_id: "greet" })).toHaveLength(0);
      const manual = await upkeep(["run", "greet", "--json"], { env });
      expect(manual.code).toBe(0);
      expect((JSON.parse(manual.stdout) as { run: JsonRun }).run).toMatchObject({ status: "succeeded", trigger: "manual" });
      expect((await upkeep(["resume", "greet"], { env })).code).toBe(0);
      const served = await upkeep(["run", "greet", "--scheduled", "--json"], { env });
      expect(served.code).toBe(0);
      expect((JSON.parse(served.stdout) as { run: JsonRun }).run).toMatchObject({ status: "succeeded", trigger: "schedule" });
      expect((await upkeep(["pause", "nope"], { env })).code).toBe(2);
    });

    it("status lists recent runs with failures first, as a table and as JSON", async () => {
      const { env } = fresh();
      for (const id of ["greet", "explode", "idle"]) await upkeep(["run", id, "--log-level", "silent"], { env });
      const json = await upkeep(["status", "--json"], { env });
      expect(json.code).toBe(0);
      const status = JSON.parse(json.stdout) as { runs: JsonRun[]; failures: number };
      expect(status.runs.map((run) => [run.taskId, run.status])).toEqual([
        ["explode", "failed"],
        ["idle", "skipped"],
        ["greet", "succeeded"],
      ]);
      expect(status.failures).toBe(1);

      const text = await upkeep(["status"], { env });
      const lines = text.stdout.split("\n");
      expect(lines[0]).toMatch(/^STARTED \(UTC\)\s+TASK\s+STATUS\s+TRIGGER\s+DURATION\s+DETAIL$/);
      expect(lines[1]).toMatch(/\bexplode\s+failed\s+manual\b.*the fixture task failed on purpose \(FIXTURE_FAILURE\)/);
      expect(text.stdout).toContain("1 of the last 3 runs did not succeed.");

      const one = await upkeep(["status", "idle", "--json"], { env });
      expect((JSON.parse(one.stdout) as { runs: JsonRun[] }).runs.map((run) => run.taskId)).toEqual(["idle"]);
    });
  });
}

describe("upkeep CLI usage and configuration errors", { timeout: 60_000 }, () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    env = { UPKEEP_CLI_DIALECT: "sqlite", UPKEEP_CLI_TARGET: database.target };
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it("dashboard serves the pages on 127.0.0.1, prints the URL and exits 0 on SIGTERM", async () => {
    await upkeep(["migrate"], { env });
    let page: Promise<{ status: number; text: string }> | undefined;
    let asked = false;
    const out = await upkeep(["dashboard", "--port", "0"], {
      env,
      onStdout: (text, child) => {
        const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(text)?.[0];
        if (!url || asked) return;
        asked = true;
        page = fetch(url).then(async (response) => ({ status: response.status, text: await response.text() }));
        void page.finally(() => child.kill("SIGTERM"));
      },
    });
    expect(out.code).toBe(0);
    const served = await page;
    expect(served?.status).toBe(200);
    expect(served?.text).toContain("<h1>Tasks</h1>");
  });

  it("dashboard refuses a port that is not a number", async () => {
    const out = await upkeep(["dashboard", "--port", "eighty"], { env });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("--port must be a whole number");
  });

  it("an unknown task id exits 2 and names the known ones", async () => {
    const out = await upkeep(["run", "nope"], { env });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('unknown task "nope"; known tasks: greet, explode, idle, flaky, wait');
  });

  it("an unknown task id with --json prints one JSON error document", async () => {
    const out = await upkeep(["run", "nope", "--json"], { env });
    expect(out.code).toBe(2);
    expect(JSON.parse(out.stdout)).toMatchObject({ error: { kind: "usage" } });
  });

  it("--input that is not JSON exits 2, names --input and does not echo the value", async () => {
    const out = await upkeep(["run", "greet", "--input", "{name: sk_live_typo"], { env });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("--input is not valid JSON");
    expect(out.stderr).not.toContain("sk_live_typo");
  });

  it("--input that fails the task's schema exits 2 naming the field path, not the value", async () => {
    const out = await upkeep(["run", "greet", "--input", '{"times":"sk_live_wrong_type"}'], { env });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("input.times");
    expect(out.stderr).not.toContain("sk_live_wrong_type");
  });

  it("a config with an invalid task input exits 2 naming the field path and not the value", async () => {
    const out = await upkeep(["list", "--config", "invalid-input.config.ts"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("tasks.report.input.batchSize");
    expect(out.stderr).not.toContain("sk_live_leaked_value");
  });

  it("a config file without a default export exits 2 saying what to add", async () => {
    const out = await upkeep(["list", "--config", "no-default.config.ts"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("has no default export");
    expect(out.stderr).toContain("export default defineConfig");
  });

  it("no config file up the tree exits 2 and says to create one or pass --config", async () => {
    const empty = mkdtempSync(join(tmpdir(), "upkeep-cli-"));
    try {
      const out = await upkeep(["list"], { cwd: empty });
      expect(out.code).toBe(2);
      expect(out.stderr).toContain("no upkeep.config.ts");
      expect(out.stderr).toContain("--config <path>");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("finds upkeep.config.ts in a parent directory", async () => {
    expect((await upkeep(["migrate"], { cwd: join(FIXTURES, "nested"), env })).code).toBe(0);
    const out = await upkeep(["list", "--json"], { cwd: join(FIXTURES, "nested"), env });
    expect(out.code).toBe(0);
    expect((JSON.parse(out.stdout) as { tasks: unknown[] }).tasks).toHaveLength(5);
  });

  it("--dry-run with --scheduled exits 2: a dry run must not claim the real tick", async () => {
    const out = await upkeep(["run", "greet", "--dry-run", "--scheduled"], { env });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("--dry-run and --scheduled cannot be combined");
  });

  it("an unknown option exits 2 naming it", async () => {
    const out = await upkeep(["list", "--colour"], { env });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("unknown option --colour for upkeep list");
  });
});

// Every --json command prints exactly one JSON document on stdout, whether the database answers
// or not; driver and library noise (knex logs "Acquire connection error" with console.log) goes to
// stderr. Regression: `list` exited 0 showing every task "never run" on an unreachable database,
// and `list --json` printed knex's warning on stdout before the JSON.
describe("upkeep CLI --json output and an unreachable database", { timeout: 120_000 }, () => {
  // In this order: the good database is migrated first.
  const JSON_COMMANDS = [["migrate"], ["list"], ["status"], ["health"], ["run", "greet"], ["tick"]];
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
  });
  afterAll(async () => {
    await database?.destroy();
  });
  // Nothing listens on port 1: the connection is refused at once.
  const down = { UPKEEP_CLI_DIALECT: "postgres", UPKEEP_CLI_TARGET: "postgres://postgres@127.0.0.1:1/test" };

  it("list exits 1 with the cause when the database is unreachable", async () => {
    const out = await upkeep(["list"], { env: down });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("ECONNREFUSED");
    expect(out.stdout).not.toContain("never run");
  });

  it("each --json command on an unreachable database exits non-zero with one JSON error document on stdout", async () => {
    for (const args of JSON_COMMANDS) {
      const out = await upkeep([...args, "--json"], { env: down });
      expect(out.code, args.join(" ")).not.toBe(0);
      const document = JSON.parse(out.stdout) as { error?: { kind: string; message: string; cause?: string } };
      expect(document.error?.kind, args.join(" ")).toBe("runtime");
      expect(`${document.error?.message} ${document.error?.cause}`, args.join(" ")).toContain("ECONNREFUSED");
    }
  });

  it("each --json command on a good database prints one JSON document on stdout", async () => {
    // A minute in which no fixture task is due: `tick` at a real minute divisible by five ran
    // "explode" and exited 1, so the test failed at those minutes only.
    const quiet = Date.parse("2026-01-15T12:01:00Z") - Date.now();
    const env = { UPKEEP_CLI_DIALECT: "sqlite", UPKEEP_CLI_TARGET: database.target, UPKEEP_CLI_CLOCK_OFFSET_MS: String(quiet) };
    for (const args of JSON_COMMANDS) {
      const out = await upkeep([...args, "--json"], { env });
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(0);
      expect(JSON.parse(out.stdout), args.join(" ")).not.toHaveProperty("error");
    }
  });
});

// Regression: envKek() threw while the config loaded, so every command failed without the KEK,
// though `keys status` needs none. Now only what uses the KEK fails, naming the variable.
describe("upkeep CLI with the config's KEK variable unset", { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const kek = randomBytes(32).toString("base64");
  const withKek = () => ({ env: { ...env, UPKEEP_CLI_KEK: kek } });
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    env = { UPKEEP_CLI_TARGET: database.target };
    delete process.env.UPKEEP_CLI_KEK;
  });
  afterAll(async () => {
    await database?.destroy();
  });
  const cli = (args: string[], options: { env: Record<string, string> } = { env }) =>
    upkeep(["--config", "kek.config.ts", ...args], options);

  it("migrate, list, status, keys status and a run of a task that needs no KEK work without it", async () => {
    for (const args of [["migrate"], ["list"], ["status"], ["keys", "status"], ["run", "greet"]]) {
      const out = await cli(args);
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(0);
    }
    const keys = JSON.parse((await cli(["keys", "status", "--json"])).stdout) as { keys: unknown[] };
    expect(keys.keys).toEqual([]);
  });

  it("a key rotation fails naming the variable, and succeeds once it is set, never printing the value", async () => {
    const rotate = await cli(["keys", "rotate"]);
    expect(rotate.code).toBe(1);
    expect(rotate.stderr).toContain("UPKEEP_CLI_KEK: is not set");
    const run = await cli(["run", "key-rotation"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("UPKEEP_CLI_KEK: is not set");
    const rewrap = await cli(["keys", "rewrap"]);
    expect(rewrap.code).toBe(2);
    expect(rewrap.stderr).toContain("UPKEEP_CLI_KEK: is not set");
    const fixed = await cli(["keys", "rotate"], withKek());
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toMatch(/new active key [0-9a-f]{16}/);
    expect(`${fixed.stdout}${fixed.stderr}`).not.toContain(kek);
  });
});

describe("upkeep main() in-process", () => {
  const capture = () => {
    const out = { stdout: "", stderr: "" };
    const io = {
      stdout: (text: string) => {
        out.stdout += text;
      },
      stderr: (text: string) => {
        out.stderr += text;
      },
    };
    return { out, io };
  };

  it("--version prints the package version", async () => {
    const { out, io } = capture();
    expect(await main(["--version"], io)).toBe(0);
    const pkg = JSON.parse(readFileSync(join(ROOT, "packages/cli/package.json"), "utf8")) as { version: string };
    expect(out.stdout).toBe(`${pkg.version}\n`);
  });

  it("--help lists every command and the exit codes", async () => {
    const { out, io } = capture();
    expect(await main(["--help"], io)).toBe(0);
    for (const name of ["list", "run", "status", "migrate"]) expect(out.stdout).toMatch(new RegExp(`^  ${name}\\s`, "m"));
    expect(out.stdout).toContain("Exit codes: 0 success, 1 the task run did not succeed, 2 usage or configuration error.");
  });

  it("<command> --help shows the command's flags without loading a config", async () => {
    const { out, io } = capture();
    expect(await main(["run", "--help"], { ...io, cwd: tmpdir() })).toBe(0);
    expect(out.stdout).toContain("Usage: upkeep run <id>");
    for (const flag of ["--dry-run", "--input", "--scheduled", "--json", "--config"]) expect(out.stdout).toContain(flag);
  });

  it("an unknown command exits 2 and lists the commands", async () => {
    const { out, io } = capture();
    expect(await main(["lsit"], io)).toBe(2);
    expect(out.stderr).toContain('unknown command "lsit"; commands: list, run, status, health, dashboard, events, pause, resume, migrate');
  });

  it("no command exits 2 and prints the help", async () => {
    const { out, io } = capture();
    expect(await main([], io)).toBe(2);
    expect(out.stderr).toContain("Usage: upkeep <command>");
    expect(out.stderr).toContain("missing command");
  });
});

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cronAdapter, installCrontab, markers, readCrontab, renderCrontab, tick, uninstallCrontab } from "@upkeep/cron";
import { createTestDatabase, runOracle, testAdapter } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAsCron } from "./run-as-cron.ts";

const FAKE_CRONTAB = fileURLToPath(new URL("../fixtures/fake-crontab.sh", import.meta.url));
const HOST = fileURLToPath(new URL("../fixtures/cron-host.ts", import.meta.url));
const TSX = pathToFileURL(fileURLToPath(import.meta.resolve("tsx"))).href;

testAdapter({
  name: "cron",
  dialects: ["sqlite", "postgres", "mariadb"],
  createAdapter: () => cronAdapter(),
  // What the cron daemon does: start `upkeep tick` when the minute (here: the second) comes.
  drive: (upkeep, now) => tick(upkeep, now),
  skip: {
    unschedule:
      "system cron fires what the installed crontab says; a task leaves it when the block is rendered and installed again (see the install tests)",
  },
});

const jobs = [
  { id: "heartbeats", pattern: "* * * * *", timezone: "UTC" },
  { id: "cleanup", pattern: "0 3 * * *", timezone: "Europe/Berlin" },
  { id: "billing-sync", pattern: "0 2 * * *", timezone: "UTC" },
];

describe("renderCrontab", () => {
  it("renders one line per task between markers, with cd, PATH and the scheduled run", () => {
    const block = renderCrontab(jobs, { cwd: "/srv/app", path: "/srv/app/node_modules/.bin:/usr/bin:/bin", cronTimezone: "UTC" });
    expect(block).toBe(
      [
        markers().begin,
        "* * * * * cd /srv/app && PATH=/srv/app/node_modules/.bin:/usr/bin:/bin && export PATH && upkeep run heartbeats --scheduled",
        "CRON_TZ=Europe/Berlin",
        "0 3 * * * cd /srv/app && PATH=/srv/app/node_modules/.bin:/usr/bin:/bin && export PATH && upkeep run cleanup --scheduled",
        "CRON_TZ=UTC",
        "0 2 * * * cd /srv/app && PATH=/srv/app/node_modules/.bin:/usr/bin:/bin && export PATH && upkeep run billing-sync --scheduled",
        markers().end,
        "",
      ].join("\n"),
    );
  });

  it("renders the single tick line, quoting paths and escaping % for cron", () => {
    const block = renderCrontab(jobs, {
      mode: "tick",
      name: "shop",
      cwd: "/srv/my app",
      path: "/usr/bin:/bin",
      log: "/var/log/upkeep-%Y.log",
    });
    const lines = block.trimEnd().split("\n");
    expect(lines).toEqual([
      markers("shop").begin,
      "* * * * * cd '/srv/my app' && PATH=/usr/bin:/bin && export PATH && upkeep tick >> /var/log/upkeep-\\%Y.log 2>&1",
      markers("shop").end,
    ]);
  });

  it("restores the daemon's timezone at the end of the block so lines after it are unaffected", () => {
    const block = renderCrontab([jobs[1] as (typeof jobs)[number]], { cronTimezone: "UTC" });
    expect(block.trimEnd().split("\n").slice(-2)).toEqual(["CRON_TZ=UTC", markers().end]);
    expect(renderCrontab([jobs[0] as (typeof jobs)[number]], { cronTimezone: "UTC" })).not.toContain("CRON_TZ");
  });
});

// Rendered lines carried only cd and PATH, so a config reading DATABASE_URL or UPKEEP_KEK from the
// environment failed under cron (issue 23): envFile makes each line source a file first.
describe("renderCrontab's envFile", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "upkeep cron env-"));
    mkdirSync(join(dir, "bin"));
    // Stands in for the CLI: writes what it finds in its environment.
    writeFileSync(join(dir, "bin", "upkeep"), '#!/bin/sh\nprintf "%s|%s|%s" "$UPKEEP_KEK" "$DATABASE_URL" "$1" > "$PWD/seen"\n');
    chmodSync(join(dir, "bin", "upkeep"), 0o755);
    writeFileSync(join(dir, ".env"), "UPKEEP_KEK='k3k with spaces'\nDATABASE_URL=postgres://app@db/app?x=50%\n", { mode: 0o600 });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("sources the file before upkeep starts, so its variables reach the process under cron's bare environment", async () => {
    const path = `${join(dir, "bin")}:/usr/bin:/bin`;
    const block = renderCrontab(jobs.slice(0, 1), { cwd: dir, path, envFile: ".env", cronTimezone: "UTC" });
    const line = block.split("\n")[1] as string;
    expect(line).toContain(`set -a && . '${join(dir, ".env")}' && set +a && PATH=`);
    await runAsCron(line);
    expect(readFileSync(join(dir, "seen"), "utf8")).toBe("k3k with spaces|postgres://app@db/app?x=50%|run");
    rmSync(join(dir, "seen"));
    const tickLine = renderCrontab([], { mode: "tick", cwd: dir, path, envFile: join(dir, ".env") }).split("\n")[1] as string;
    await runAsCron(tickLine);
    expect(readFileSync(join(dir, "seen"), "utf8")).toBe("k3k with spaces|postgres://app@db/app?x=50%|tick");
  });

  it("stops the line before upkeep when the file is missing", async () => {
    rmSync(join(dir, "seen"), { force: true });
    const line = renderCrontab([], { mode: "tick", cwd: dir, path: `${join(dir, "bin")}:/usr/bin:/bin`, envFile: "missing.env" }).split(
      "\n",
    )[1] as string;
    await expect(runAsCron(line)).rejects.toThrow();
    expect(() => readFileSync(join(dir, "seen"))).toThrow(/ENOENT/);
  });

  it.each(["a\nb", "it's.env", 'a".env', "a`id`.env", "a\\b", " "])("refuses the path %j, naming envFile", (envFile) => {
    expect(() => renderCrontab(jobs, { envFile })).toThrow(/envFile: expected a file path without newlines/);
  });
});

describe("installCrontab and uninstallCrontab (through a file-backed crontab command)", () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "upkeep-crontab-"));
    file = join(dir, "crontab");
    process.env.FAKE_CRONTAB_FILE = file;
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const options = { crontab: FAKE_CRONTAB };

  it("installs into an empty crontab, replaces its own block, and leaves other lines alone", async () => {
    rmSync(file, { force: true });
    expect(await readCrontab(options)).toBe("");
    const first = renderCrontab(jobs.slice(0, 2), { cwd: "/srv/app", cronTimezone: "UTC" });
    expect((await installCrontab(first, options)).changed).toBe(true);
    expect(readFileSync(file, "utf8")).toBe(first);

    writeFileSync(file, `MAILTO=ops@example.com\n${first}# mine\n15 4 * * * /usr/local/bin/backup\n`);
    const second = renderCrontab(jobs.slice(0, 1), { cwd: "/srv/app", cronTimezone: "UTC" });
    await installCrontab(second, options);
    expect(readFileSync(file, "utf8")).toBe(`MAILTO=ops@example.com\n${second}# mine\n15 4 * * * /usr/local/bin/backup\n`);
  });

  it("is idempotent: installing the same block again writes nothing and leaves one block", async () => {
    writeFileSync(file, "15 4 * * * /usr/local/bin/backup\n");
    const block = renderCrontab(jobs, { cwd: "/srv/app", cronTimezone: "UTC" });
    expect((await installCrontab(block, options)).changed).toBe(true);
    expect((await installCrontab(block, options)).changed).toBe(false);
    const text = readFileSync(file, "utf8");
    expect(text.split(markers().begin)).toHaveLength(2);
    expect(text.startsWith("15 4 * * * /usr/local/bin/backup\n")).toBe(true);
  });

  it("keeps blocks of other names and removes only its own on uninstall, twice harmlessly", async () => {
    writeFileSync(file, "15 4 * * * /usr/local/bin/backup\n");
    await installCrontab(renderCrontab(jobs, { name: "shop" }), { ...options, name: "shop" });
    await installCrontab(renderCrontab(jobs, { name: "blog", mode: "tick" }), { ...options, name: "blog" });
    expect((await uninstallCrontab({ ...options, name: "shop" })).changed).toBe(true);
    expect((await uninstallCrontab({ ...options, name: "shop" })).changed).toBe(false);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(markers("shop").begin);
    expect(text).toContain(markers("blog").begin);
    expect(text.startsWith("15 4 * * * /usr/local/bin/backup\n")).toBe(true);
  });

  it("refuses to touch a block whose end marker was deleted by hand", async () => {
    writeFileSync(file, `${markers().begin}\n* * * * * true\n`);
    await expect(installCrontab(renderCrontab(jobs), options)).rejects.toThrow(/without its end marker/);
    expect(readFileSync(file, "utf8")).toBe(`${markers().begin}\n* * * * * true\n`);
  });
});

describe("a rendered line run as cron runs it", () => {
  let app: string;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    // A working directory cron would mangle without quoting and % escaping.
    app = mkdtempSync(join(tmpdir(), "upkeep app 100% "));
    mkdirSync(join(app, "node_modules", ".bin"), { recursive: true });
    // The app's own `upkeep` bin, reachable only through the PATH the line sets.
    const bin = join(app, "node_modules", ".bin", "upkeep");
    writeFileSync(bin, `#!/bin/sh\nexec node --conditions=dev-source --import '${TSX}' '${HOST}' "$@"\n`);
    chmodSync(bin, 0o755);
    writeFileSync(join(app, "upkeep 50%.json"), JSON.stringify({ database: database.target }));
  });
  afterAll(async () => {
    rmSync(app, { recursive: true, force: true });
    await database?.destroy();
  });

  it("starts `upkeep run <id> --scheduled` in the app directory with a bare environment, and the run is recorded", async () => {
    const block = renderCrontab([{ id: "stamp", pattern: "* * * * *", timezone: "UTC" }], {
      cwd: app,
      config: "upkeep 50%.json",
      log: "upkeep.log",
    });
    const line = block.split("\n").find((text) => text.startsWith("* * * * *")) as string;
    await runAsCron(line);
    const output = JSON.parse(readFileSync(join(app, "upkeep.log"), "utf8").trim().split("\n").at(-1) as string);
    expect(output.cwd).toBe(app);
    expect(output.runs).toEqual([{ taskId: "stamp", status: "succeeded", trigger: "schedule" }]);
    const rows = await runOracle(database.knex).runs("stamp");
    expect(rows.map((row) => row.status)).toEqual(["succeeded"]);
    expect((rows[0]?.scheduledFor ?? 1) % 60_000).toBe(0);
  });

  it("starts `upkeep tick` the same way; two hosts ticking in the same minute record one run per tick", async () => {
    const block = renderCrontab([], { mode: "tick", cwd: app, config: "upkeep 50%.json", log: "tick.log" });
    const line = block.split("\n")[1] as string;
    await Promise.all([runAsCron(line), runAsCron(line)]);
    const rows = await runOracle(database.knex).runs("stamp");
    expect(await runOracle(database.knex).duplicateTicks()).toEqual([]);
    expect(rows.every((row) => row.status === "succeeded")).toBe(true);
    expect(readFileSync(join(app, "tick.log"), "utf8").trim().split("\n")).toHaveLength(2);
  });
});

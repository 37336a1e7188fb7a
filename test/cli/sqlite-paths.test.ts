// Run from a subdirectory, a relative SQLite filename in the config opened a new empty database
// there, so `upkeep status` showed nothing and `migrate` migrated the wrong file (issue 23). The
// built CLI now resolves it against the config file's directory. Run after `pnpm build`.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "packages/cli/dist/bin.js");

/** A config whose knex is SQLite on `connection` (source text), with one task that records a run. */
const configText = (connection: string) => `import { defineConfig, defineTask } from "@upkeep/core";
import knex from "knex";
export default defineConfig({
  db: knex({ client: "better-sqlite3", connection: ${connection}, useNullAsDefault: true }),
  tasks: [defineTask({ id: "stamp", schedule: "0 3 * * *", run: () => ({ stamped: true }) })],
});
`;

async function upkeep(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe.skipIf(!existsSync(BIN))("the built CLI run from a subdirectory", { timeout: 60_000 }, () => {
  let scratch: string;
  beforeAll(() => {
    // Inside the repository, so the config resolves @upkeep/core and knex like an app's would.
    scratch = mkdtempSync(join(ROOT, "test/cli/.sqlite-paths-"));
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it.each([
    ["object form", '{ filename: "./data/app.sqlite3" }'],
    ["string form", '"data/app.sqlite3"'],
  ])("opens the config's database, not a new one in the working directory (%s)", async (form, connection) => {
    const app = join(scratch, form.replace(" ", "-"));
    const sub = join(app, "src", "jobs");
    mkdirSync(sub, { recursive: true });
    mkdirSync(join(app, "data"));
    writeFileSync(join(app, "upkeep.config.mjs"), configText(connection));

    expect((await upkeep(app, "migrate")).code).toBe(0);
    const run = await upkeep(app, "run", "stamp", "--json");
    expect(run.code).toBe(0);
    const status = await upkeep(sub, "status", "stamp", "--json");
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ runs: [{ taskId: "stamp", status: "succeeded" }] });
    expect(existsSync(join(sub, "data"))).toBe(false);
    expect(existsSync(join(sub, "data", "app.sqlite3"))).toBe(false);
    expect(existsSync(join(app, "data", "app.sqlite3"))).toBe(true);
  });

  it("leaves :memory: alone", async () => {
    const app = join(scratch, "memory");
    mkdirSync(join(app, "sub"), { recursive: true });
    writeFileSync(join(app, "upkeep.config.mjs"), configText('{ filename: ":memory:" }'));
    const migrate = await upkeep(join(app, "sub"), "migrate");
    expect(migrate.code).toBe(0);
    expect(existsSync(join(app, ":memory:"))).toBe(false);
    expect(existsSync(join(app, "sub", ":memory:"))).toBe(false);
  });
});

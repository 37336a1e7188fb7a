// Start-up checks of what an adapter loads (issue 23): croner ran silently on two copies, and a
// bullmq outside @upkeep/bullmq's peer range only showed up in `npm ls`. Each case builds a small
// app folder whose node_modules holds the real packages from the store (croner 9 and 11, bullmq 5
// and 6) next to the built adapters, and registers tasks in a separate node process. Run after
// `pnpm build`.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const real = (path: string) => realpathSync(join(ROOT, path));
const built = ["core", "croner", "bullmq"].every((name) => existsSync(join(ROOT, "packages", name, "dist/index.js")));

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  warnings: { obj: { package?: string; copies?: { version: string }[] }; msg: string }[];
}

const script = (adapter: "croner" | "bullmq") => `
import { defineTask, registerTasks } from "@upkeep/core";
import { ${adapter}Adapter } from "@upkeep/${adapter}";
const warnings = [];
const logger = { debug() {}, info() {}, error() {}, warn(obj, msg) { warnings.push({ obj, msg }); } };
const adapter = ${adapter === "croner" ? "cronerAdapter()" : '\n  bullmqAdapter({ connection: { host: "127.0.0.1", port: 6379 }, worker: false })'};
const task = defineTask({ id: "t", schedule: "* * * * *", run: () => {} });
try {
  registerTasks(adapter, { tasks: [task], logger });
  console.log(JSON.stringify({ ok: true, warnings }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, code: error.code, message: error.message, warnings }));
}
`;

describe.skipIf(!built)("adapter dependencies checked at registerTasks", { timeout: 60_000 }, () => {
  let scratch: string;
  let apps = 0;
  beforeAll(() => {
    scratch = mkdtempSync(join(ROOT, "test/adapters/.peers-"));
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  /** An app with the built adapter copied in (so it resolves its peer from the app) and `peer` as `name`. */
  async function runApp(adapter: "croner" | "bullmq", peer: { name: string; from: string; copy?: boolean }): Promise<Outcome> {
    const app = join(scratch, `app${++apps}`);
    const modules = join(app, "node_modules");
    mkdirSync(join(modules, "@upkeep"), { recursive: true });
    symlinkSync(join(ROOT, "packages/core"), join(modules, "@upkeep/core"));
    const copy = join(modules, "@upkeep", adapter);
    mkdirSync(copy);
    cpSync(join(ROOT, "packages", adapter, "package.json"), join(copy, "package.json"));
    cpSync(join(ROOT, "packages", adapter, "dist"), join(copy, "dist"), { recursive: true });
    mkdirSync(dirname(join(modules, peer.name)), { recursive: true });
    if (peer.copy) cpSync(peer.from, join(modules, peer.name), { recursive: true, dereference: true });
    else symlinkSync(peer.from, join(modules, peer.name));
    writeFileSync(join(app, "main.mjs"), script(adapter));
    const { stdout } = await exec(process.execPath, ["main.mjs"], { cwd: app });
    return JSON.parse(stdout.trim().split("\n").at(-1) as string) as Outcome;
  }

  it("registers quietly when the croner adapter loads core's own croner", async () => {
    const out = await runApp("croner", { name: "croner", from: real("packages/core/node_modules/croner") });
    expect(out).toEqual({ ok: true, warnings: [] });
  });

  it("warns, naming both versions, when the croner adapter loads a second copy of croner", async () => {
    const out = await runApp("croner", { name: "croner", from: real("packages/core/node_modules/croner"), copy: true });
    expect(out.ok).toBe(true);
    expect(out.warnings).toHaveLength(1);
    expect(out.warnings[0]?.msg).toMatch(/two copies of croner are loaded: @upkeep\/core uses 11\.\d+\.\d+ and @upkeep\/croner uses 11\./);
    expect(out.warnings[0]?.obj.copies).toHaveLength(2);
  });

  it("refuses croner 9, outside @upkeep/croner's peer range, with a ConfigError at adapter", async () => {
    const out = await runApp("croner", { name: "croner", from: real("node_modules/croner9") });
    expect(out.ok).toBe(false);
    expect(out.code).toBe("CONFIG_INVALID");
    expect(out.message).toMatch(/adapter: @upkeep\/croner supports croner \^11[^,]*, but croner 9\.1\.\d+ is installed/);
  });

  it("refuses bullmq 5, outside @upkeep/bullmq's peer range, and accepts bullmq 6", async () => {
    const old = await runApp("bullmq", { name: "bullmq", from: real("node_modules/bullmq5") });
    expect(old.ok).toBe(false);
    expect(old.code).toBe("CONFIG_INVALID");
    expect(old.message).toMatch(/adapter: @upkeep\/bullmq supports bullmq \^6\.0\.0, but bullmq 5\.\d+\.\d+ is installed/);
    expect(old.message).toContain("install a bullmq in that range");
    const current = await runApp("bullmq", { name: "bullmq", from: real("packages/bullmq/node_modules/bullmq") });
    expect(current).toEqual({ ok: true, warnings: [] });
  });
});

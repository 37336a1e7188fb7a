// pnpm bench dependency-audit — a 5,000-package package-lock.json audited by the task against one
// request per package (the naive loop) and against `npm audit --json` on the same lockfile and the
// same local registry, each in its own process (time and peak RSS from /usr/bin/time). The task
// runs from the built packages (`pnpm build` first) with a fresh SQLite store, migrations included.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startRegistryServer } from "../../../packages/testkit/src/registry-server.ts";
import { bench } from "../lib.ts";

const b = bench("dependency-audit");
const PACKAGES = Number(process.env.BENCH_AUDIT_PACKAGES ?? 5000);
const VULNERABLE_EVERY = 100;
const run = promisify(execFile);
const name = (i: number) => (i % 10 === 0 ? `@bench/pkg-${i}` : `pkg-${i}`);
// A binary tree: package i depends on 2i+1 and 2i+2; the app depends on 0 and on 1 (dev).
const children = (i: number) => [2 * i + 1, 2 * i + 2].filter((child) => child < PACKAGES);

const registry = await startRegistryServer({
  packages: Array.from({ length: PACKAGES }, (_, i) => ({
    name: name(i),
    versions: { "1.0.0": { dependencies: Object.fromEntries(children(i).map((child) => [name(child), "^1.0.0"])) }, "1.0.1": {} },
  })),
  advisories: Array.from({ length: Math.floor(PACKAGES / VULNERABLE_EVERY) }, (_, k) => ({
    id: 5000 + k,
    package: name(k * VULNERABLE_EVERY),
    severity: k % 2 === 0 ? "high" : "moderate",
    vulnerableVersions: "<1.0.1",
  })),
});

// The lockfile npm 7+ writes for this tree, flattened (every package hoisted to node_modules/).
const dir = mkdtempSync(join(tmpdir(), "upkeep-bench-audit-"));
const packages: Record<string, object> = {
  "": { name: "bench-app", version: "1.0.0", dependencies: { [name(0)]: "^1.0.0" }, devDependencies: { [name(1)]: "^1.0.0" } },
};
for (let i = 0; i < PACKAGES; i++) {
  const dist = registry.dist(name(i), "1.0.0");
  const deps = children(i);
  packages[`node_modules/${name(i)}`] = {
    version: "1.0.0",
    resolved: dist.tarball,
    integrity: dist.integrity,
    ...(deps.length > 0 ? { dependencies: Object.fromEntries(deps.map((child) => [name(child), "^1.0.0"])) } : {}),
  };
}
const lockfile = join(dir, "package-lock.json");
writeFileSync(lockfile, JSON.stringify({ name: "bench-app", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2));
writeFileSync(
  join(dir, "package.json"),
  JSON.stringify({ name: "bench-app", version: "1.0.0", dependencies: { [name(0)]: "^1.0.0" }, devDependencies: { [name(1)]: "^1.0.0" } }),
);

/** Runs a command under /usr/bin/time: wall seconds, peak RSS in MB, stdout. */
async function measured(command: string[], cwd: string): Promise<{ seconds: number; mb: number; stdout: string }> {
  const marker = join(dir, `time-${Math.random().toString(36).slice(2)}`);
  let stdout = "";
  try {
    ({ stdout } = await run("/usr/bin/time", ["-f", "%e %M", "-o", marker, ...command], { cwd, maxBuffer: 256 * 1024 * 1024 }));
  } catch (error) {
    // npm audit exits 1 when it finds vulnerabilities; its JSON is still on stdout.
    stdout = (error as { stdout?: string }).stdout ?? "";
    if (!stdout) throw error;
  }
  const [seconds, kb] = readFileSync(marker, "utf8").trim().split(/\s+/).slice(-2).map(Number) as [number, number];
  return { seconds, mb: kb / 1024, stdout };
}

const child = fileURLToPath(new URL("child.ts", import.meta.url));
// From the repository, where tsx and the workspace packages resolve.
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const node = [process.execPath, "--import", "tsx", child, registry.url];
try {
  // npm audit: the bulk endpoint, then the packuments it needs for its fix advice.
  registry.reset();
  const npm = await measured(["npm", "audit", "--json", "--package-lock-only", "--ignore-scripts", `--registry=${registry.url}/`], dir);
  const npmRequests = registry.stats.requests;
  const npmFound = Object.keys((JSON.parse(npm.stdout) as { vulnerabilities?: object }).vulnerabilities ?? {}).length;

  registry.reset();
  const advisoriesOnly = await measured([...node, lockfile, join(dir, "a.sqlite"), "0"], repo);
  const adv = JSON.parse(advisoriesOnly.stdout) as { requests: { advisories: number; packuments: number; naive: number }; open: number };

  registry.reset();
  const full = await measured([...node, lockfile, join(dir, "b.sqlite"), "1"], repo);
  const all = JSON.parse(full.stdout) as { requests: { advisories: number; packuments: number; naive: number }; open: number };
  registry.reset();
  const warm = await measured([...node, lockfile, join(dir, "b.sqlite"), "1"], repo);
  const warmResult = JSON.parse(warm.stdout) as { requests: { notModified: number } };

  console.log(
    `# ${PACKAGES} packages; npm audit reported ${npmFound} vulnerable packages, the task ${adv.open} advisory findings (${all.open} with integrity)`,
  );
  b.report({
    metric: "requests-advisories-vs-naive",
    ours: adv.requests.advisories + adv.requests.packuments,
    baseline: PACKAGES,
    unit: "requests",
  });
  b.report({
    metric: "requests-with-integrity-vs-naive",
    ours: all.requests.advisories + all.requests.packuments,
    baseline: 2 * PACKAGES,
    unit: "requests",
  });
  b.report({
    metric: "requests-advisories-vs-npm-audit",
    ours: adv.requests.advisories + adv.requests.packuments,
    baseline: npmRequests,
    unit: "requests",
  });
  b.report({ metric: "time-advisories-vs-npm-audit", ours: advisoriesOnly.seconds, baseline: npm.seconds, unit: "s" });
  b.report({ metric: "time-with-integrity-vs-npm-audit", ours: full.seconds, baseline: npm.seconds, unit: "s" });
  b.report({ metric: "time-with-integrity-warm-cache-vs-npm-audit", ours: warm.seconds, baseline: npm.seconds, unit: "s" });
  const runMs = JSON.parse(full.stdout).ms as number;
  b.report({ metric: "in-process-run-with-integrity-vs-npm-audit-wall", ours: runMs / 1000, baseline: npm.seconds, unit: "s" });
  b.report({ metric: "peak-rss-advisories-vs-npm-audit", ours: advisoriesOnly.mb, baseline: npm.mb, unit: "MB" });
  b.report({ metric: "peak-rss-with-integrity-vs-npm-audit", ours: full.mb, baseline: npm.mb, unit: "MB" });
  console.log(`# warm run: ${warmResult.requests.notModified} packuments answered 304`);
  b.write();
} finally {
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
}

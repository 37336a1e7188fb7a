import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  type DependencyAuditOptions,
  type DependencyAuditResult,
  dependencyAuditTask,
  knexStore,
  type Logger,
  manualAdapter,
  registerTasks,
  type TaskEvent,
} from "@upkeep/core";
import {
  type AdvisoryFixture,
  createTestDatabase,
  probeDialects,
  type RegistryServer,
  startRegistryServer,
  type TestDatabase,
} from "@upkeep/testkit";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  APP_MANIFEST,
  GENERATED_ORIGIN,
  LATER_PACKAGES,
  LOCKED_PACKAGES,
} from "../../packages/core/src/tasks/dependency-audit/fixtures/registry.ts";
import { refuse } from "../fixtures/refuse.ts";

const FIXTURES = fileURLToPath(new URL("../../packages/core/src/tasks/dependency-audit/fixtures/", import.meta.url));
const TOKEN = "npm_tok_5e3f9a8b7c6d";

const ADVISORIES: AdvisoryFixture[] = [
  { id: 1001, package: "qs-lite", severity: "high", vulnerableVersions: "<6.0.1", title: "Prototype pollution in qs-lite" },
  { id: 1002, package: "@fixture/glob", severity: "moderate", vulnerableVersions: "<2.0.0", title: "ReDoS in glob patterns" },
];

let registry: RegistryServer;

beforeAll(async () => {
  registry = await startRegistryServer({ packages: [...LOCKED_PACKAGES, ...LATER_PACKAGES], advisories: ADVISORIES, token: TOKEN });
  process.env.AUDIT_TEST_TOKEN = TOKEN;
});

afterAll(async () => {
  await registry?.close();
});

beforeEach(() => {
  registry.reset();
  registry.setAdvisories(ADVISORIES);
});

/** A project folder holding a fixture lockfile under its real name (with this server's origin) beside the app's package.json. */
function project(fixture: string, name: string, edit?: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), "upkeep-audit-"));
  let text = readFileSync(join(FIXTURES, fixture), "utf8").replaceAll(GENERATED_ORIGIN, registry.url);
  if (edit) text = edit(text);
  writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, "package.json"), JSON.stringify(APP_MANIFEST));
  return join(dir, name);
}

/** Edits a package-lock.json's `packages` entries. */
function editNpmLock(path: string, change: (packages: Record<string, Record<string, unknown>>) => void): void {
  const lock = JSON.parse(readFileSync(path, "utf8"));
  change(lock.packages);
  writeFileSync(path, JSON.stringify(lock, null, 2));
}

const registryOptions = () => ({ url: registry.url, allowHttp: true, token: { env: "AUDIT_TEST_TOKEN" } });

function host(options: Omit<DependencyAuditOptions, "registry" | "tablePrefix">, db?: TestDatabase, prefix = "upkeep_") {
  let now = Date.parse("2026-06-01T04:00:00Z");
  const logs: string[] = [];
  const events: TaskEvent[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    logs.push(
      JSON.stringify({ level, msg, ...fields }, (_k, v: unknown) =>
        v instanceof Error ? { message: v.message, cause: String(v.cause) } : v,
      ),
    );
  };
  const logger: Logger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
  const upkeep = registerTasks(manualAdapter(), {
    db: db?.knex,
    tablePrefix: prefix,
    logger,
    clock: () => new Date(now),
    tasks: [dependencyAuditTask({ registry: registryOptions(), retries: 0, ...options, tablePrefix: prefix })],
    on: { event: ({ event }) => void events.push(event) },
  });
  return {
    logs,
    events,
    advance(ms: number) {
      now += ms;
    },
    async run(dryRun = false) {
      const run = await upkeep.run("dependency-audit", { dryRun });
      return { run, result: run.result as DependencyAuditResult };
    },
  };
}

const LOCKS = [
  ["package-lock.v3.json", "package-lock.json"],
  ["package-lock.v2.json", "package-lock.json"],
  ["pnpm-lock.v9.yaml", "pnpm-lock.yaml"],
  ["pnpm-lock.v6.yaml", "pnpm-lock.yaml"],
  ["yarn.v1.lock", "yarn.lock"],
  ["yarn.berry.lock", "yarn.lock"],
] as const;

describe("dependency-audit without a database (dry run)", () => {
  for (const [fixture, name] of LOCKS) {
    it(`${fixture}: finds the vulnerable versions with their paths, dev flag and first fixed version`, async () => {
      const lockfile = project(fixture, name);
      const h = host({ lockfiles: [lockfile] });
      const { run, result } = await h.run(true);
      // qs-lite's advisory is high and failOn defaults to high: the run fails and keeps its result.
      expect(run.status).toBe("failed");
      expect(run.errorMessage).toContain("qs-lite@6.0.0 1001 (high)");
      const advisories = result.open.filter((finding) => finding.kind === "advisory");
      expect(
        advisories.map(({ package: pkg, version, advisory, severity, fixedIn, dev, paths }) => ({
          pkg,
          version,
          advisory,
          severity,
          fixedIn,
          dev,
          paths,
        })),
      ).toEqual([
        {
          pkg: "@fixture/glob",
          version: "1.2.0",
          advisory: "1002",
          severity: "moderate",
          fixedIn: undefined,
          dev: true,
          paths: [["app", "test-runner@1.0.0", "@fixture/glob@1.2.0"]],
        },
        {
          pkg: "qs-lite",
          version: "6.0.0",
          advisory: "1001",
          severity: "high",
          fixedIn: "6.0.1",
          dev: false,
          paths: [["app", "express-lite@4.0.0", "qs-lite@6.0.0"]],
        },
      ]);
      expect(result.open.filter((finding) => finding.kind !== "advisory")).toEqual([]);
      expect(result.packages).toBe(5);
      expect(result.requests.advisories).toBe(1);
      expect(h.events).toEqual([]);
      if (name !== "yarn.lock" || fixture === "yarn.v1.lock") expect(result.integrity).toEqual({ checked: 5, unchecked: 0 });
    });
  }

  it("sends the token to the registry only as a bearer header, and never logs, stores or reports it", async () => {
    const h = host({ lockfiles: [project("package-lock.v3.json", "package-lock.json")], failOn: "none" });
    const { run } = await h.run(true);
    expect(run.status).toBe("succeeded");
    expect(registry.stats.authorizations.every((value) => value === `Bearer ${TOKEN}`)).toBe(true);
    expect(registry.stats.authorizations.length).toBe(registry.stats.requests);
    for (const text of [JSON.stringify(run), h.logs.join("\n"), JSON.stringify(h.events)]) expect(text).not.toContain(TOKEN);
  });

  it("a packument that never answers fails the run after the request timeout, naming the package", async () => {
    registry.inject({ on: "packument", kind: "hang", name: "debug-lite" });
    const h = host({ lockfiles: [project("package-lock.v3.json", "package-lock.json")], requestTimeout: "300ms" });
    const { run } = await h.run(true);
    expect(run.status).toBe("failed");
    expect(run.reason).toBe("AUDIT_REGISTRY_FAILED");
    expect(run.errorMessage).toContain("packument of debug-lite: no answer within 300 ms after 1 attempt(s)");
    expect(run.result).toBeNull();
  });

  it("adds an OSV source's advisories, once when the registry publishes the same one, without sending it the token", async () => {
    registry.setAdvisories([
      { ...(ADVISORIES[0] as AdvisoryFixture), fixed: "6.0.1" },
      {
        id: 2001,
        package: "debug-lite",
        severity: "critical",
        vulnerableVersions: ">=2.0.0 <2.6.9",
        fixed: "2.6.9",
        source: "osv",
        title: "ReDoS in debug-lite",
      },
    ]);
    const h = host({
      lockfiles: [project("pnpm-lock.v9.yaml", "pnpm-lock.yaml")],
      osv: { url: registry.url, allowHttp: true },
      failOn: "none",
    });
    const { run, result } = await h.run(true);
    expect(run.status).toBe("succeeded");
    expect(
      result.open.map(({ package: pkg, advisory, severity, vulnerableRange, fixedIn }) => ({
        pkg,
        advisory,
        severity,
        vulnerableRange,
        fixedIn,
      })),
    ).toEqual([
      { pkg: "debug-lite", advisory: "GHSA-fixture-2001", severity: "critical", vulnerableRange: "<2.6.9", fixedIn: "2.6.9" },
      { pkg: "qs-lite", advisory: "1001", severity: "high", vulnerableRange: "<6.0.1", fixedIn: "6.0.1" },
    ]);
    expect(result.open[0]?.url).toBe(`${registry.url}/v1/vulns/GHSA-fixture-2001`);
    // One query batch and one vulnerability fetch (2001; 1001 is also the registry's).
    expect(result.requests.osv).toBe(3);
    expect(registry.stats.authorizations.length).toBe(registry.stats.requests - registry.stats.osvRequests);
  });

  it("an OSV source failing fails the run, naming its batch", async () => {
    const h = host({
      lockfiles: [project("pnpm-lock.v9.yaml", "pnpm-lock.yaml")],
      osv: { url: `${registry.url}/v1/elsewhere/`, allowHttp: true },
    });
    const { run } = await h.run(true);
    expect(run.status).toBe("failed");
    expect(run.errorMessage).toContain("OSV batch 1 of 1 (5 packages): HTTP 405");
  });

  it("names the path of a missing lockfile and of an unsupported version", async () => {
    const missing = join(mkdtempSync(join(tmpdir(), "upkeep-audit-")), "package-lock.json");
    const { run } = await host({ lockfiles: [missing] }).run(true);
    expect(run.status).toBe("failed");
    expect(run.errorMessage).toContain(`lockfile ${missing}: does not exist`);
    const old = project("package-lock.v3.json", "package-lock.json", (text) =>
      text.replace('"lockfileVersion": 3', '"lockfileVersion": 1'),
    );
    const second = await host({ lockfiles: [old] }).run(true);
    expect(second.run.errorMessage).toContain(`lockfile ${old}: unsupported lockfileVersion 1`);
  });

  it("refuses a plain http registry without allowHttp and credentials in the URL, naming the field, never the value", () => {
    let error: unknown;
    try {
      registerTasks(manualAdapter(), {
        tasks: [
          dependencyAuditTask({
            registry: { url: `http://user:${TOKEN}@127.0.0.1:1/` },
            ignore: [{ advisory: "1", reason: "", expires: "soon" }],
          }),
        ],
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain("registry.url");
    expect(message).toContain("ignore.0.reason");
    expect(message).toContain("ignore.0.expires");
    expect(message).not.toContain(TOKEN);
  });
});

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`dependency-audit on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });
    let prefixes = 0;
    const fresh = () => `a${++prefixes}_`;
    const findings = async (prefix: string) =>
      (
        await database
          .knex(`${prefix}audit_findings`)
          .select("kind", "package", "version", "advisory", "status")
          .orderBy(["kind", "package"])
      ).map((row) => `${row.status} ${row.kind} ${row.package}@${row.version}${row.advisory ? ` ${row.advisory}` : ""}`);

    it("writes the alerts' events with the findings that mark them alerted, or neither (issue 26)", async () => {
      const lockfile = project("package-lock.v3.json", "package-lock.json");
      const refused = fresh();
      const blocked = host({ lockfiles: [lockfile], failOn: "none" }, database, refused);
      await knexStore(database.knex, { tablePrefix: refused }).migrate();
      await refuse(database.knex, dialect, `${refused}events`, "type", "dependency.vulnerable");
      expect((await blocked.run()).run.status).toBe("failed");
      expect(await findings(refused)).toEqual([]);
      expect(await database.knex(`${refused}events`).select("id")).toEqual([]);

      const prefix = fresh();
      const h = host({ lockfiles: [lockfile], failOn: "none" }, database, prefix);
      expect((await h.run()).run.status).toBe("succeeded");
      const rows = await database.knex(`${prefix}events`).select("type", "data");
      expect(rows.map((row) => `${row.type} ${JSON.parse(String(row.data)).package}`).sort()).toEqual([
        "dependency.vulnerable @fixture/glob",
        "dependency.vulnerable qs-lite",
      ]);
      const alerted = await database.knex(`${prefix}audit_findings`).whereNotNull("alerted_at").count({ n: "*" }).first();
      expect(Number(alerted?.n)).toBe(2);
    });

    it("reports new findings once, alerts them once, clears a fixed one and caches packuments with ETags", async () => {
      const prefix = fresh();
      const lockfile = project("package-lock.v3.json", "package-lock.json");
      const h = host({ lockfiles: [lockfile], failOn: "critical" }, database, prefix);
      const first = await h.run();
      expect(first.run.status).toBe("succeeded");
      expect(first.result.counts).toMatchObject({ open: 2, new: 2, fixed: 0 });
      expect(h.events.map((event) => [event.type, event.security, event.severity, event.data?.package])).toEqual([
        ["dependency.vulnerable", true, "warning", "@fixture/glob"],
        ["dependency.vulnerable", true, "critical", "qs-lite"],
      ]);
      expect(h.events[1]?.data).toMatchObject({
        advisory: "1001",
        fixedIn: "6.0.1",
        paths: [["app", "express-lite@4.0.0", "qs-lite@6.0.0"]],
      });
      expect(registry.stats.packumentRequests).toBe(5);

      registry.reset();
      const second = await h.run();
      expect(second.result.counts).toMatchObject({ open: 2, new: 0, fixed: 0 });
      expect(h.events.length).toBe(2);
      expect(registry.stats.notModified).toBe(5);
      expect(second.result.requests).toMatchObject({ advisories: 1, packuments: 5, notModified: 5 });

      // The app moves qs-lite to the fixed version.
      const fixed = registry.dist("qs-lite", "6.0.1");
      editNpmLock(lockfile, (packages) => {
        packages["node_modules/qs-lite"] = { version: "6.0.1", resolved: fixed.tarball, integrity: fixed.integrity };
      });
      const third = await h.run();
      expect(third.result.counts).toMatchObject({ open: 1, new: 0, fixed: 1 });
      expect(third.result.fixed).toEqual([expect.objectContaining({ package: "qs-lite", version: "6.0.0", advisory: "1001" })]);
      expect(await findings(prefix)).toEqual(["open advisory @fixture/glob@1.2.0 1002", "fixed advisory qs-lite@6.0.0 1001"]);
    });

    it("fails the run while a finding at or above failOn is open, after storing it", async () => {
      const prefix = fresh();
      const h = host({ lockfiles: [project("pnpm-lock.v9.yaml", "pnpm-lock.yaml")] }, database, prefix);
      const { run, result } = await h.run();
      expect(run.status).toBe("failed");
      expect(run.reason).toBe("AUDIT_FINDINGS_OPEN");
      expect(result.counts.open).toBe(2);
      expect(await findings(prefix)).toEqual(["open advisory @fixture/glob@1.2.0 1002", "open advisory qs-lite@6.0.0 1001"]);
    });

    it("keeps an ignored advisory without alerting or failing on it until its expiry", async () => {
      const prefix = fresh();
      const h = host(
        {
          lockfiles: [project("yarn.v1.lock", "yarn.lock")],
          ignore: [{ advisory: "1001", package: "qs-lite", reason: "not reachable from our parser input", expires: "2026-07-01" }],
        },
        database,
        prefix,
      );
      const before = await h.run();
      expect(before.run.status).toBe("succeeded");
      expect(before.result.counts.ignored).toBe(1);
      expect(before.result.open.find((finding) => finding.package === "qs-lite")?.ignored).toEqual({
        reason: "not reachable from our parser input",
        expires: "2026-07-01",
      });
      expect(h.events.map((event) => event.data?.package)).toEqual(["@fixture/glob"]);
      h.advance(31 * 86_400_000);
      const after = await h.run();
      expect(after.run.status).toBe("failed");
      expect(after.result.counts.ignored).toBe(0);
      expect(h.events.map((event) => event.data?.package)).toEqual(["@fixture/glob", "qs-lite"]);
    });

    it("finds a tampered integrity, a foreign resolved host and an unpublished version", async () => {
      const prefix = fresh();
      const lockfile = project("package-lock.v3.json", "package-lock.json");
      editNpmLock(lockfile, (packages) => {
        const debug = packages["node_modules/debug-lite"] as Record<string, unknown>;
        debug.integrity = `sha512-${Buffer.alloc(64, 7).toString("base64")}`;
        const glob = packages["node_modules/@fixture/glob"] as Record<string, unknown>;
        glob.resolved = "https://evil.example/@fixture/glob/-/glob-1.2.0.tgz";
      });
      registry.publish({ name: "test-runner", versions: { "1.0.1": {} } });
      registry.unpublish("test-runner", "1.0.0");
      try {
        const h = host({ lockfiles: [lockfile], failOn: "none" }, database, prefix);
        const { run, result } = await h.run();
        expect(run.status).toBe("succeeded");
        const integrity = result.open.filter((finding) => finding.kind !== "advisory");
        expect(integrity.map(({ kind, package: pkg, severity, detail }) => ({ kind, pkg, severity, detail }))).toEqual([
          {
            kind: "integrity.foreign_host",
            pkg: "@fixture/glob",
            severity: "high",
            detail: "resolved from evil.example, not the registry",
          },
          {
            kind: "integrity.mismatch",
            pkg: "debug-lite",
            severity: "critical",
            detail: "the lockfile's integrity differs from the registry's for this version",
          },
          { kind: "integrity.unpublished", pkg: "test-runner", severity: "moderate", detail: "the registry has no version 1.0.0" },
        ]);
        expect(h.events.filter((event) => event.type.startsWith("dependency.integrity")).map((event) => event.type)).toEqual([
          "dependency.integrity.foreign_host",
          "dependency.integrity.mismatch",
          "dependency.integrity.unpublished",
        ]);
      } finally {
        registry.publish({
          name: "test-runner",
          versions: { "1.0.0": { dependencies: { "debug-lite": "^2.0.0", "@fixture/glob": "^1.0.0" } } },
        });
      }
    });

    it("a registry failing mid-run changes nothing stored and names the failed batch", async () => {
      const prefix = fresh();
      const lockfile = project("package-lock.v3.json", "package-lock.json");
      const h = host({ lockfiles: [lockfile], failOn: "none", batchSize: 2 }, database, prefix);
      expect((await h.run()).run.status).toBe("succeeded");
      const stored = await database.knex(`${prefix}audit_findings`).select("*").orderBy("id");
      const cache = await database.knex(`${prefix}audit_packuments`).select("*").orderBy("id");

      // The lock moves qs-lite to the fixed version, so a complete run would mark 1001 fixed.
      const fixed = registry.dist("qs-lite", "6.0.1");
      editNpmLock(lockfile, (packages) => {
        packages["node_modules/qs-lite"] = { version: "6.0.1", resolved: fixed.tarball, integrity: fixed.integrity };
      });
      registry.inject({ on: "bulk", kind: "status", status: 503, after: 1, times: 5 });
      const failed = await h.run();
      expect(failed.run.status).toBe("failed");
      expect(failed.run.reason).toBe("AUDIT_REGISTRY_FAILED");
      expect(failed.run.errorMessage).toMatch(/advisory batch 2 of 3 \(2 packages, express-lite to qs-lite\): HTTP 503/);
      expect(failed.run.result).toBeNull();
      expect(await database.knex(`${prefix}audit_findings`).select("*").orderBy("id")).toEqual(stored);

      registry.reset();
      registry.inject({ on: "packument", kind: "drop", name: "qs-lite", times: 5 });
      const dropped = await h.run();
      expect(dropped.run.status).toBe("failed");
      expect(dropped.run.errorMessage).toContain("packument of qs-lite: request failed");
      expect(await database.knex(`${prefix}audit_findings`).select("*").orderBy("id")).toEqual(stored);
      expect(await database.knex(`${prefix}audit_packuments`).select("*").orderBy("id")).toEqual(cache);
    });

    it("honours Retry-After on a rate-limited batch and completes", async () => {
      const prefix = fresh();
      registry.inject({ on: "bulk", kind: "status", status: 429, retryAfter: 0, times: 1 });
      const h = host({ lockfiles: [project("pnpm-lock.v6.yaml", "pnpm-lock.yaml")], failOn: "none", retries: 2 }, database, prefix);
      const { run, result } = await h.run();
      expect(run.status).toBe("succeeded");
      expect(result.requests.advisories).toBe(2);
      expect(result.counts.open).toBe(2);
    });
  });
}

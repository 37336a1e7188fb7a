import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dependencyAuditTask, manualAdapter, registerTasks, type Severity, silentLogger, type UpkeepConfig } from "@upkeep/core";
import { createTestDatabase, type RegistryServer, startRegistryServer, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandContext } from "../../packages/cli/src/command.ts";
import { runCommand } from "../../packages/cli/src/commands/run.ts";
import { APP_MANIFEST, GENERATED_ORIGIN, LOCKED_PACKAGES } from "../../packages/core/src/tasks/dependency-audit/fixtures/registry.ts";

const FIXTURES = fileURLToPath(new URL("../../packages/core/src/tasks/dependency-audit/fixtures/", import.meta.url));

describe("upkeep run dependency-audit", () => {
  let database: TestDatabase;
  let registry: RegistryServer;
  let root: string;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    registry = await startRegistryServer({
      packages: LOCKED_PACKAGES,
      advisories: [{ id: 1001, package: "qs-lite", severity: "high", vulnerableVersions: "<6.0.1" }],
    });
    root = mkdtempSync(join(tmpdir(), "upkeep-cli-audit-"));
    const lock = readFileSync(join(FIXTURES, "pnpm-lock.v9.yaml"), "utf8").replaceAll(GENERATED_ORIGIN, registry.url);
    writeFileSync(join(root, "pnpm-lock.yaml"), lock);
    writeFileSync(join(root, "package.json"), JSON.stringify(APP_MANIFEST));
  });
  afterAll(async () => {
    await registry?.close();
    await database?.destroy();
  });

  async function run(failOn: Severity | "none", prefix: string): Promise<{ code: number; out: string }> {
    const config: UpkeepConfig = {
      db: database.knex,
      tablePrefix: prefix,
      logger: silentLogger,
      tasks: [dependencyAuditTask({ root, registry: { url: registry.url, allowHttp: true }, failOn, tablePrefix: prefix })],
    };
    let out = "";
    const ctx = {
      config,
      configPath: "upkeep.config.ts",
      upkeep: registerTasks(manualAdapter(), config),
      cwd: root,
      now: () => new Date(),
      positionals: ["dependency-audit"],
      flags: {},
      json: false,
      tty: false,
      stdout: (text: string) => {
        out += text;
      },
      stderr: (text: string) => {
        out += text;
      },
    } satisfies CommandContext;
    return { code: await runCommand.run(ctx), out };
  }

  it("exits 1 while a finding at or above failOn is open, naming it, and 0 when failOn is none", async () => {
    const failing = await run("high", "cliaudit1_");
    expect(failing.code).toBe(1);
    expect(failing.out).toContain("qs-lite@6.0.0 1001 (high)");
    expect((await run("none", "cliaudit2_")).code).toBe(0);
  });
});

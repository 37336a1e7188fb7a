import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { iocIngestTask, manualAdapter, registerTasks, silentLogger, type UpkeepConfig } from "@upkeep/core";
import { createTestDatabase, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandContext } from "../../packages/cli/src/command.ts";
import { UsageError } from "../../packages/cli/src/command.ts";
import { commands } from "../../packages/cli/src/commands/index.ts";
import { iocCommand } from "../../packages/cli/src/commands/ioc.ts";

const NOW = new Date("2026-03-01T12:00:00Z");

describe("upkeep ioc", () => {
  let database: TestDatabase;
  let config: UpkeepConfig;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    const feed = join(tmpdir(), `upkeep-cli-ioc-${process.pid}.txt`);
    writeFileSync(feed, "45.155.205.0/24\nevil.example\nnot an indicator\n");
    config = {
      db: database.knex,
      tablePrefix: "cliioc_",
      logger: silentLogger,
      clock: () => NOW,
      tasks: [iocIngestTask({ tablePrefix: "cliioc_", feeds: [{ name: "local", url: pathToFileURL(feed).href, format: "plain" }] })],
    };
    const upkeep = registerTasks(manualAdapter(), config);
    await upkeep.run("ioc-ingest");
  });
  afterAll(async () => {
    await database?.destroy();
  });

  async function ioc(positionals: string[], json = false): Promise<string> {
    let out = "";
    const ctx = {
      config,
      configPath: "upkeep.config.ts",
      upkeep: registerTasks(manualAdapter(), config),
      cwd: process.cwd(),
      now: () => NOW,
      positionals,
      flags: {},
      json,
      tty: false,
      stdout: (text: string) => {
        out += text;
      },
      stderr: () => {},
    } satisfies CommandContext;
    expect(await iocCommand.run(ctx)).toBe(0);
    return out;
  }

  it("is listed among the commands", () => {
    expect(commands.map((command) => command.name)).toContain("ioc");
  });

  it("check names the covering indicator and the feeds that list it since when", async () => {
    const text = await ioc(["check", "45.155.205.77"]);
    expect(text).toContain("45.155.205.77 is LISTED (covered by ipv4 45.155.205.0/24), confidence 50.");
    expect(text).toMatch(/local\s+2026-03-01 12:00 \(now\)/);
    expect(await ioc(["check", "cdn.EVIL.example."])).toContain("is LISTED (covered by domain evil.example)");
    expect(await ioc(["check", "93.184.216.34"])).toBe("93.184.216.34 is not listed.\n");
  });

  it("check --json gives the feeds for machines", async () => {
    const parsed = JSON.parse(await ioc(["check", "evil.example"], true));
    expect(parsed).toMatchObject({ listed: true, match: { kind: "domain", value: "evil.example" }, feeds: [{ feed: "local" }] });
  });

  it("stats counts live indicators per kind and shows each feed's state", async () => {
    const text = await ioc(["stats"]);
    expect(text).toContain("2 live indicators (domain 1, ipv4 1).");
    expect(text).toMatch(/local\s+plain\s+ok\s+2\s+now/);
  });

  it("refuses an unknown verb or a missing value with usage", async () => {
    await expect(ioc(["nope"])).rejects.toBeInstanceOf(UsageError);
    await expect(ioc(["check"])).rejects.toThrow(/expected one value/);
    // It printed "... is not an IP address ..." and exited 0.
    await expect(ioc(["check", "not a thing"])).rejects.toThrow(
      new UsageError('"not a thing" is not an IP address, network, domain, URL or hash'),
    );
  });
});

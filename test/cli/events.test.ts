import { defineTask, manualAdapter, registerTasks, type StoredEvent, silentLogger, type UpkeepConfig } from "@upkeep/core";
import { createTestDatabase, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CommandContext, EXIT } from "../../packages/cli/src/command.ts";
import { eventsCommand } from "../../packages/cli/src/commands/events.ts";
import { commandContext } from "../fixtures/cli-context.ts";

// `upkeep events` over a real SQLite outbox: two tasks emit through the runner, then the command
// lists them with each filter and redelivers one by id to the configuration's handlers.

describe("upkeep events", () => {
  let database: TestDatabase;
  let config: UpkeepConfig;
  const delivered: StoredEvent[] = [];

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    const alerting = defineTask({
      id: "alerting",
      schedule: "0 * * * *",
      run: async (ctx) => {
        ctx.emit({ type: "agent.suspended", security: true, severity: "warning", data: { tokenId: 7 } });
        return {};
      },
    });
    const quiet = defineTask({
      id: "quiet",
      schedule: "0 * * * *",
      run: async (ctx) => {
        ctx.emit({ type: "report.ready", data: { rows: 3 } });
        return {};
      },
    });
    config = {
      db: database.knex,
      tablePrefix: "cli_events_",
      logger: silentLogger,
      tasks: [alerting, quiet],
      on: { event: ({ event }) => void delivered.push(event) },
    };
    const upkeep = registerTasks(manualAdapter(), config);
    await upkeep.migrate();
    await upkeep.run("alerting");
    await upkeep.run("quiet");
  });
  afterAll(async () => database?.destroy());

  async function events(positionals: string[], flags: CommandContext["flags"] = {}, asJson = true) {
    const { ctx, out } = commandContext(config, positionals, flags, { json: asJson });
    const code = await eventsCommand.run(ctx);
    return { code, text: out() };
  }
  const listed = async (flags: CommandContext["flags"] = {}) =>
    (JSON.parse((await events([], flags)).text) as { events: Array<{ id: string; type: string; task: string; state: string }> }).events;

  it("lists every event, newest first, delivered, with its stable id", async () => {
    const all = await listed();
    expect(all.map((event) => [event.task, event.type, event.state])).toEqual([
      ["quiet", "report.ready", "delivered"],
      ["alerting", "agent.suspended", "delivered"],
    ]);
    expect(delivered.map((event) => event.id).sort()).toEqual(all.map((event) => event.id).sort());
    const text = await events([], {}, false);
    expect(text.code).toBe(EXIT.ok);
    expect(text.text).toMatch(/agent\.suspended\s+warning \(security\)\s+delivered/);
  });

  it("filters by task, security and --since", async () => {
    expect((await listed({ task: "quiet" })).map((event) => event.type)).toEqual(["report.ready"]);
    expect((await listed({ security: true })).map((event) => event.type)).toEqual(["agent.suspended"]);
    expect(await listed({ since: "2999-01-01" })).toEqual([]);
    expect(await listed({ since: "1h" })).toHaveLength(2);
    await expect(events([], { since: "yesterday" })).rejects.toThrow(/--since: expected an ISO date/);
    await expect(events([], { limit: "0" })).rejects.toThrow(/--limit/);
  });

  it("redeliver <id> sends the same event, same id, to the handlers again; an unknown id is an error", async () => {
    const [alert] = await listed({ security: true });
    const before = delivered.length;
    const { code } = await events(["redeliver", alert?.id as string]);
    expect(code).toBe(EXIT.ok);
    expect(delivered.slice(before).map((event) => [event.id, event.type])).toEqual([[alert?.id, "agent.suspended"]]);
    await expect(events(["redeliver", "01HNOTANEVENTID0000000000"])).rejects.toThrow(/01HNOTANEVENTID0000000000|not found/i);
    await expect(events(["redeliver", alert?.id as string], { failed: true })).rejects.toThrow(/not both/);
    await expect(events(["bogus"])).rejects.toThrow(/unknown subcommand "bogus"/);
  });
});

import { randomBytes, randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import {
  ConfigError,
  type LogFields,
  type Logger,
  MIGRATIONS,
  migrate,
  type StoredEvent,
  silentLogger,
  type UpkeepConfig,
  type WebhookTargetOptions,
  webhookTarget,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import knexFactory, { type Knex } from "knex";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../packages/cli/src/command.ts";
import { eventsCommand } from "../../packages/cli/src/commands/events.ts";
import { startFixture, untilOutput } from "../fixtures/child.ts";
import { commandContext } from "../fixtures/cli-context.ts";
import { type Receiver, startReceiver } from "../fixtures/webhook-receiver.ts";
import type { SweeperArgs } from "../fixtures/webhook-sweeper.ts";

const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;
const HOUR = 3_600_000;

function event(overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: randomUUID(),
    task: "heartbeats",
    runId: randomUUID(),
    type: "agent.suspended",
    severity: "warning",
    security: true,
    data: { tokenId: 42, reason: "HEARTBEAT_MISSING" },
    createdAt: new Date(),
    ...overrides,
  };
}

/** A logger that keeps every line, as JSON, so a test can search it. */
function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (fields: LogFields, message?: string) => {
    lines.push(JSON.stringify({ ...fields, message }));
  };
  return { lines, debug: log, info: log, warn: log, error: log };
}

const never = new AbortController().signal;

describe("webhookTarget refuses bad options, naming the field", () => {
  const db = knexFactory({ client: "better-sqlite3", connection: { filename: ":memory:" }, useNullAsDefault: true });
  afterAll(async () => {
    await db.destroy();
  });
  const base = (): WebhookTargetOptions => ({ db, url: "https://hooks.example.com/upkeep", secret: newSecret() });
  const refusal = (options: WebhookTargetOptions): ConfigError => {
    try {
      webhookTarget(options);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error("expected a ConfigError");
  };

  it("accepts https and plain http on loopback only", () => {
    expect(() => webhookTarget(base())).not.toThrow();
    for (const url of ["http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"]) {
      expect(() => webhookTarget({ ...base(), url })).not.toThrow();
    }
    for (const url of ["http://hooks.example.com/x", "http://10.0.0.1/x", "ftp://hooks.example.com/x", "not a url"]) {
      expect(refusal({ ...base(), url }).issues.map((issue) => issue.path)).toEqual(["url"]);
    }
  });

  it("refuses a url with credentials without quoting them", () => {
    const error = refusal({ ...base(), url: "https://alice:hunter2secret@hooks.example.com/x" });
    expect(error.issues.map((issue) => issue.path)).toEqual(["url"]);
    expect(error.message).toMatch(/credentials/);
    expect(error.message).not.toContain("hunter2secret");
  });

  it("refuses a missing or malformed secret without quoting it", () => {
    const short = `whsec_${randomBytes(8).toString("base64")}`;
    for (const secret of [undefined, "", "hunter2-not-a-secret", short, `whsec_${"!".repeat(40)}`]) {
      const error = refusal({ ...base(), secret: secret as string });
      expect(error.issues.map((issue) => issue.path)).toEqual(["secret"]);
      if (secret) expect(error.message).not.toContain(secret);
      expect(error.cause).toBeUndefined();
    }
  });

  it("refuses bad bounds, filter and name", () => {
    const error = refusal({
      ...base(),
      name: "has space",
      timeout: "soon" as never,
      retry: { maxAge: 0, attempts: 0 },
      filter: { minSeverity: "loud" as never },
    });
    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      "filter.minSeverity",
      "name",
      "retry.attempts",
      "retry.maxAge",
      "timeout",
    ]);
  });

  it("keeps the secret out of the target's inspection and JSON", () => {
    const secret = newSecret();
    const target = webhookTarget({ ...base(), secret });
    const body = secret.slice("whsec_".length);
    expect(inspect(target, { depth: 10, showHidden: true })).not.toContain(body);
    expect(JSON.stringify(target)).not.toContain(body);
  });
});

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`webhook deliveries on ${dialect}`, () => {
    let database: TestDatabase;
    let db: Knex;
    let receiver: Receiver;
    let counter = 0;
    const prefix = "wh_";
    const table = `${prefix}event_deliveries`;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      db = database.knex;
      await migrate(db, prefix, MIGRATIONS);
    });
    afterAll(async () => {
      await database?.destroy();
    });
    afterEach(async () => {
      await receiver?.close();
    });

    /** A target of its own name (its own rows) on a fresh receiver. */
    async function setup(options: Partial<WebhookTargetOptions> = {}) {
      receiver = await startReceiver();
      const secret = newSecret();
      const logger = capturingLogger();
      const name = options.name ?? `hook-${++counter}`;
      const target = webhookTarget({ db, url: receiver.url, secret, tablePrefix: prefix, logger, ...options, name });
      const rows = async () =>
        (await db(table).where("target", name).orderBy("created_at")) as Array<{
          event_id: string;
          state: string;
          attempts: number;
          last_status: number | null;
          last_error: string | null;
          delivered_at: unknown;
        }>;
      return { target, secret, logger, name, rows };
    }

    it("posts the event signed by Standard Webhooks: the package's verifier accepts it", async () => {
      const { target, secret, rows } = await setup();
      const sent = event();
      await target.accept(sent, never);
      await target.idle();
      expect(receiver.received).toHaveLength(1);
      const request = receiver.received[0] as (typeof receiver.received)[number];
      expect(request.id).toBe(sent.id);
      const verified = new Webhook(secret).verify(request.body, {
        "webhook-id": request.id,
        "webhook-timestamp": request.timestamp,
        "webhook-signature": request.signature,
      });
      expect(verified).toMatchObject({ id: sent.id, type: "agent.suspended", task: "heartbeats", security: true, data: sent.data });
      expect(() =>
        new Webhook(newSecret()).verify(request.body, {
          "webhook-id": request.id,
          "webhook-timestamp": request.timestamp,
          "webhook-signature": request.signature,
        }),
      ).toThrow();
      const [row] = await rows();
      expect(row).toMatchObject({ event_id: sent.id, state: "delivered", last_status: 200 });
      expect(Number(row?.attempts)).toBe(1);
    });

    it("accepting the same event twice makes one delivery and one request", async () => {
      const { target, rows } = await setup();
      const sent = event();
      await target.accept(sent, never);
      await target.accept(sent, never);
      await target.idle();
      await target.sendDue(new Date(Date.now() + HOUR), never);
      expect(receiver.received).toHaveLength(1);
      expect(await rows()).toHaveLength(1);
    });

    it("sends only what the filter lets through", async () => {
      const { target, rows } = await setup({
        filter: { security: true, types: ["agent.*", "key-rotation.rotated"], minSeverity: "warning" },
      });
      const kept = [event(), event({ type: "key-rotation.rotated", severity: "critical" })];
      const dropped = [
        event({ security: false }),
        event({ type: "billing.downgraded" }),
        event({ severity: "info" }),
        event({ type: "agentx.suspended" }),
      ];
      for (const one of [...kept, ...dropped]) await target.accept(one, never);
      await target.idle();
      expect((await rows()).map((row) => row.event_id).sort()).toEqual(kept.map((one) => one.id).sort());
      expect(receiver.received.map((request) => request.id).sort()).toEqual(kept.map((one) => one.id).sort());
    });

    it("retries after a 500 and after a dropped connection, then delivers", async () => {
      const { target, rows } = await setup();
      receiver.plan = [500, "drop"];
      const sent = event();
      await target.accept(sent, never);
      await target.idle();
      let [row] = await rows();
      expect(row).toMatchObject({ state: "pending", last_status: 500, last_error: "HTTP 500" });
      // Not due yet: the backoff holds it.
      expect(await target.sendDue(new Date(), never)).toEqual({ delivered: 0, retrying: 0, failed: 0 });
      expect(await target.sendDue(new Date(Date.now() + HOUR), never)).toEqual({ delivered: 0, retrying: 1, failed: 0 });
      [row] = await rows();
      expect(row?.state).toBe("pending");
      expect(row?.last_status).toBeNull();
      expect(row?.last_error).toMatch(/^connection failed/);
      expect(await target.sendDue(new Date(Date.now() + 2 * HOUR), never)).toEqual({ delivered: 1, retrying: 0, failed: 0 });
      [row] = await rows();
      expect(row).toMatchObject({ state: "delivered", last_status: 200, last_error: null });
      expect(Number(row?.attempts)).toBe(3);
      expect(receiver.received.map((request) => request.id)).toEqual([sent.id, sent.id, sent.id]);
    });

    it("marks a delivery failed with its last status once the retry bound is reached", async () => {
      const { target, rows } = await setup({ retry: { maxAge: "2m", initialDelay: "10s" } });
      receiver.fallback = 503;
      await target.accept(event(), never);
      await target.idle();
      let sweeps = 0;
      while ((await rows())[0]?.state === "pending" && sweeps < 20) {
        sweeps++;
        await target.sendDue(new Date(Date.now() + sweeps * 60_000), never);
      }
      const [row] = await rows();
      expect(row).toMatchObject({ state: "failed", last_status: 503, last_error: "HTTP 503" });
      expect(sweeps).toBeGreaterThan(0);
      // A failed delivery is not sent again by a sweep.
      const before = receiver.received.length;
      await target.sendDue(new Date(Date.now() + 48 * HOUR), never);
      expect(receiver.received).toHaveLength(before);
    });

    it("marks a delivery failed after the set number of attempts", async () => {
      const { target, rows } = await setup({ retry: { attempts: 2 } });
      receiver.fallback = 500;
      await target.accept(event(), never);
      await target.idle();
      expect(await target.sendDue(new Date(Date.now() + HOUR), never)).toEqual({ delivered: 0, retrying: 0, failed: 1 });
      const [row] = await rows();
      expect(row?.state).toBe("failed");
      expect(Number(row?.attempts)).toBe(2);
      expect(receiver.received).toHaveLength(2);
    });

    it("does not follow a 302 to another host: a failed attempt with its status", async () => {
      const other = await startReceiver();
      try {
        const { target, rows } = await setup();
        receiver.fallback = { redirect: `${other.url.replace("127.0.0.1", "localhost")}/stolen` };
        await target.accept(event(), never);
        await target.idle();
        await target.sendDue(new Date(Date.now() + HOUR), never);
        expect(other.received).toHaveLength(0);
        const [row] = await rows();
        expect(row).toMatchObject({ state: "pending", last_status: 302 });
        expect(row?.last_error).toMatch(/redirect not followed/);
        expect(receiver.received).toHaveLength(2);
      } finally {
        await other.close();
      }
    });

    it("a receiver down for an hour loses nothing: the delivery waits and goes out when it is back", async () => {
      const { target, rows } = await setup();
      const port = receiver.port;
      await receiver.close();
      const sent = event();
      await target.accept(sent, never);
      await target.idle();
      for (const minutes of [10, 20, 40]) await target.sendDue(new Date(Date.now() + minutes * 60_000), never);
      let [row] = await rows();
      expect(row?.state).toBe("pending");
      expect(row?.last_error).toMatch(/ECONNREFUSED/);
      receiver = await startReceiver(port);
      await target.sendDue(new Date(Date.now() + 2 * HOUR), never);
      [row] = await rows();
      expect(row?.state).toBe("delivered");
      expect(receiver.received.map((request) => request.id)).toEqual([sent.id]);
    });

    it("never writes the secret to a delivery row or a log line", async () => {
      const { target, secret, logger, rows } = await setup({ retry: { attempts: 3 } });
      receiver.plan = [500, "drop", { redirect: "https://elsewhere.example.com/" }];
      await target.accept(event(), never);
      await target.idle();
      await target.sendDue(new Date(Date.now() + HOUR), never);
      await target.sendDue(new Date(Date.now() + 3 * HOUR), never);
      const [row] = await rows();
      expect(row?.state).toBe("failed");
      const body = secret.slice("whsec_".length);
      const stored = JSON.stringify(await db(table).select());
      expect(logger.lines.length).toBeGreaterThanOrEqual(3);
      for (const text of [stored, ...logger.lines]) {
        expect(text).not.toContain(body);
        expect(text).not.toContain(Buffer.from(body, "base64").toString("hex"));
      }
    });

    it("upkeep events redeliver --failed resets failed deliveries and sends them", async () => {
      const { target, name, rows } = await setup({ retry: { attempts: 1 } });
      receiver.fallback = 500;
      const sent = [event(), event()];
      for (const one of sent) await target.accept(one, never);
      await target.idle();
      expect((await rows()).map((row) => row.state)).toEqual(["failed", "failed"]);
      receiver.fallback = 204;
      const config: UpkeepConfig = { db, tablePrefix: prefix, logger: silentLogger, tasks: [], events: { targets: [target] } };
      const { ctx, out } = commandContext(config, ["redeliver"], { failed: true, target: name }, { json: true });
      expect(await eventsCommand.run(ctx)).toBe(EXIT.ok);
      expect(JSON.parse(out())).toEqual({ targets: [{ target: name, reset: 2, delivered: 2, retrying: 0, failed: 0 }] });
      const after = await rows();
      expect(after.map((row) => [row.state, row.last_status])).toEqual([
        ["delivered", 204],
        ["delivered", 204],
      ]);
      expect(receiver.received.filter((request) => request.headers["webhook-id"] !== undefined)).toHaveLength(4);
      await expect(eventsCommand.run({ ...ctx, flags: { failed: true, target: "nope" } })).rejects.toThrow(
        /no webhook target named "nope"/,
      );
      await expect(eventsCommand.run({ ...ctx, flags: {} })).rejects.toThrow(/--failed/);
    });

    it("two processes sweeping at once send each delivery once", { timeout: 60_000 }, async () => {
      const { target, secret, name, rows } = await setup();
      receiver.fallback = 500;
      const events = Array.from({ length: 40 }, () => event());
      for (const one of events) await target.accept(one, never);
      await target.idle();
      expect((await rows()).every((row) => row.state === "pending")).toBe(true);
      receiver.received.length = 0;
      receiver.fallback = 200;
      receiver.delayMs = 60;
      const args: SweeperArgs = {
        dialect,
        target: database.target,
        prefix,
        name,
        url: receiver.url,
        secret,
        now: Date.now() + HOUR,
        go: join(tmpdir(), `upkeep-webhook-go-${randomUUID()}`),
      };
      const children = [0, 1].map(() => startFixture("webhook-sweeper", [JSON.stringify(args)]));
      const outputs = children.map((child) => {
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
        });
        return () => output;
      });
      await Promise.all(children.map((child) => untilOutput(child, (output) => output.includes("ready\n"))));
      writeFileSync(args.go, "");
      const reports = (
        await Promise.all(
          children.map(
            (child, at) =>
              new Promise<string>((resolve, reject) => {
                const done = (code: number | null) =>
                  code === 0 ? resolve(outputs[at]?.() ?? "") : reject(new Error(`sweeper exited ${code}`));
                if (child.exitCode !== null) done(child.exitCode);
                else child.once("exit", done);
              }),
          ),
        ).finally(() => rmSync(args.go, { force: true }))
      ).map((output) => JSON.parse(output.replace("ready\n", "")) as { delivered: number });
      const ids = receiver.received.map((request) => request.id).sort();
      expect(ids).toEqual(events.map((one) => one.id).sort());
      expect(reports.reduce((sum, report) => sum + report.delivered, 0)).toBe(40);
      // Both processes took part, so the claim was contended.
      expect(reports.every((report) => report.delivered > 0)).toBe(true);
      expect((await db(table).where("target", name).whereNot("state", "delivered")).length).toBe(0);
    });
  });
}

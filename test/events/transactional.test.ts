// Built-in tasks write their events in the transaction of the change they report (issue 26): the
// event row and the change commit together, or neither does. A refusal is forced in the database
// (a CHECK constraint, a trigger on SQLite) on the event row or on the change written after it.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  billingSyncTask,
  createCrypto,
  iocIngestTask,
  keyRotationTask,
  listModels,
  localKek,
  manualAdapter,
  registerTasks,
  silentLogger,
  threatClassifier,
  trainingTask,
} from "@upkeep/core";
import {
  createTestDatabase,
  probeDialects,
  type StripeServer,
  type SubscriptionFixture,
  startStripeServer,
  type TestDatabase,
} from "@upkeep/testkit";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccountsTable } from "../fixtures/billing-accounts.ts";
import { refuse } from "../fixtures/refuse.ts";
import { createTelemetryTable, insertTelemetry, regimeTelemetry } from "../fixtures/telemetry.ts";

const T0 = new Date("2026-03-01T02:00:00Z");
const T0s = T0.getTime() / 1000;
const DAY = 86_400;

const sub = (id: string, customer: string, status: string, price: string): SubscriptionFixture => ({
  id,
  customer,
  status,
  prices: [price],
  created: T0s - 10 * DAY,
  currentPeriodStart: T0s - 10 * DAY,
  currentPeriodEnd: T0s + 20 * DAY,
});

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`built-in events commit with their change on ${dialect}`, () => {
    let database: TestDatabase;
    let stripe: StripeServer;
    let feedServer: Server;
    let feedBody: () => { status: number; body: string } = () => ({ status: 200, body: "" });
    let feedBase = "";
    let prefixes = 0;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      stripe = await startStripeServer();
      feedServer = createServer((req, res) => {
        const { status, body } = req.url?.startsWith("/steady") ? { status: 200, body: "evil.example\n" } : feedBody();
        res.statusCode = status;
        res.end(body);
      });
      await new Promise<void>((resolve) => feedServer.listen(0, "127.0.0.1", resolve));
      feedBase = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => feedServer?.close(resolve));
      await stripe?.close();
      await database?.destroy();
    });

    const eventRows = async (prefix: string) =>
      (await database.knex(`${prefix}events`).select("type", "data")).map((row) => ({
        type: String(row.type),
        data: JSON.parse(String(row.data)) as Record<string, unknown>,
      }));

    async function billing() {
      const prefix = `tx${++prefixes}_`;
      const table = `${prefix}accounts`;
      await createAccountsTable(database.knex, table);
      const updatedAt = new Date(T0.getTime() - DAY * 1000);
      await database.knex(table).insert([
        { stripe_customer_id: "cus_lapsed", plan: "pro", updated_at: updatedAt },
        { stripe_customer_id: "cus_entitled", plan: "starter", updated_at: updatedAt },
      ]);
      stripe.reset();
      stripe.setSubscriptions([
        sub("sub_lapsed", "cus_lapsed", "canceled", "price_pro"),
        sub("sub_up", "cus_entitled", "active", "price_pro"),
      ]);
      const upkeep = registerTasks(manualAdapter(), {
        db: database.knex,
        tablePrefix: prefix,
        clock: () => T0,
        logger: silentLogger,
        tasks: [
          billingSyncTask({
            stripe: new Stripe("sk_test_tx", { ...stripe.clientOptions, maxNetworkRetries: 0, telemetry: false }),
            mode: "test",
            plans: { price_starter: "starter", price_pro: "pro" },
            ranks: { starter: 1, pro: 2 },
            accounts: { table },
            // Two accounts, one downgrade: past the mass-downgrade guard's share on purpose.
            force: true,
          }),
        ],
      });
      await upkeep.migrate();
      const plans = async () =>
        Object.fromEntries(
          (await database.knex(table).select("stripe_customer_id", "plan")).map((row) => [row.stripe_customer_id, row.plan]),
        );
      return { prefix, upkeep, plans };
    }

    it("billing-sync: each plan change and its event commit together", async () => {
      const h = await billing();
      const run = await h.upkeep.run("billing-sync");
      expect(run.status).toBe("succeeded");
      expect(await h.plans()).toEqual({ cus_lapsed: "free", cus_entitled: "pro" });
      const rows = await eventRows(h.prefix);
      expect(rows.map((row) => `${row.type} ${row.data.customerId}`).sort()).toEqual([
        "billing.downgraded cus_lapsed",
        "billing.upgraded cus_entitled",
      ]);
      await h.upkeep.stop();
    });

    it("billing-sync: an event the outbox refuses rolls its plan changes back", async () => {
      const h = await billing();
      await refuse(database.knex, dialect, `${h.prefix}events`, "type", "billing.downgraded");
      const run = await h.upkeep.run("billing-sync");
      expect(run.status).toBe("failed");
      // Same batch, same transaction: neither account changed, and no event exists.
      expect(await h.plans()).toEqual({ cus_lapsed: "pro", cus_entitled: "starter" });
      expect(await eventRows(h.prefix)).toEqual([]);
      await h.upkeep.stop();
    });

    async function ioc() {
      const prefix = `tx${++prefixes}_`;
      const upkeep = registerTasks(manualAdapter(), {
        db: database.knex,
        tablePrefix: prefix,
        clock: () => T0,
        logger: silentLogger,
        tasks: [
          iocIngestTask({
            tablePrefix: prefix,
            feeds: [
              { name: "alpha", url: `${feedBase}/alpha`, format: "plain", allowHttp: true, ttl: "1d" },
              // Keeps the run from failing as "every feed failed".
              { name: "steady", url: `${feedBase}/steady`, format: "plain", allowHttp: true, ttl: "1d" },
            ],
          }),
        ],
      });
      await upkeep.migrate();
      feedBody = () => ({ status: 200, body: "45.155.205.233\n" });
      expect((await upkeep.run("ioc-ingest")).status).toBe("succeeded");
      // From now on alpha's download fails: the run holds it.
      feedBody = () => ({ status: 500, body: "boom" });
      const status = async () => String((await database.knex(`${prefix}feeds`).where({ name: "alpha" }).first())?.status);
      return { prefix, upkeep, status };
    }

    it("ioc-ingest: the held feed's state and its ioc.feed_held event commit together", async () => {
      const h = await ioc();
      const run = await h.upkeep.run("ioc-ingest");
      expect(run.status).toBe("succeeded");
      expect(await h.status()).toBe("failed");
      const rows = await eventRows(h.prefix);
      expect(rows.map((row) => `${row.type} ${row.data.feed} ${row.data.status}`)).toEqual(["ioc.feed_held alpha failed"]);
      await h.upkeep.stop();
    });

    it.each([
      { refused: "feed state refused after the event", table: "feeds", column: "status", value: "failed" },
      { refused: "ioc.feed_held event refused", table: "events", column: "type", value: "ioc.feed_held" },
    ])("ioc-ingest: with the $refused, the feed's state stays as it was and no event row is left", async ({ table, column, value }) => {
      const h = await ioc();
      await refuse(database.knex, dialect, `${h.prefix}${table}`, column, value);
      const run = await h.upkeep.run("ioc-ingest");
      expect(run.status).toBe("failed");
      expect(await h.status()).toBe("ok");
      expect(await eventRows(h.prefix)).toEqual([]);
      await h.upkeep.stop();
    });

    async function rotation() {
      const prefix = `tx${++prefixes}_`;
      const kekHex = randomBytes(32).toString("hex");
      const upkeep = registerTasks(manualAdapter(), {
        db: database.knex,
        tablePrefix: prefix,
        logger: silentLogger,
        tasks: [keyRotationTask({ kek: localKek(kekHex), columns: [], force: true })],
      });
      await upkeep.migrate();
      // The first run makes key 1; the next makes key 2 and retires key 1 (no registered row uses it).
      expect((await upkeep.run("key-rotation")).status).toBe("succeeded");
      const crypto = createCrypto({ db: database.knex, kek: localKek(kekHex), tablePrefix: prefix });
      const first = (await crypto.activeKey())?.id;
      const statusOf = async (id: string | undefined) => {
        await crypto.reload();
        return (await crypto.keys()).find((key) => key.id === id)?.status;
      };
      return { prefix, upkeep, first, statusOf };
    }

    it("key-rotation: the retirement and its key-rotation.retired event commit together", async () => {
      const h = await rotation();
      expect((await h.upkeep.run("key-rotation")).status).toBe("succeeded");
      expect(await h.statusOf(h.first)).toBe("retired");
      const retired = (await eventRows(h.prefix)).filter((row) => row.type === "key-rotation.retired");
      expect(retired.map((row) => row.data.keyId)).toEqual([h.first]);
      await h.upkeep.stop();
    });

    it("key-rotation: a retired event the outbox refuses leaves the key unretired", async () => {
      const h = await rotation();
      await refuse(database.knex, dialect, `${h.prefix}events`, "type", "key-rotation.retired");
      expect((await h.upkeep.run("key-rotation")).status).toBe("failed");
      expect(await h.statusOf(h.first)).toBe("old");
      expect((await eventRows(h.prefix)).filter((row) => row.type === "key-rotation.retired")).toEqual([]);
      await h.upkeep.stop();
    });
    async function training() {
      const prefix = `tx${++prefixes}_`;
      const table = `${prefix}telemetry`;
      const end = Date.UTC(2026, 4, 4, 1);
      await createTelemetryTable(database.knex, table);
      await insertTelemetry(database.knex, regimeTelemetry({ end, hours: 24, regime: () => "errors" }), table);
      const at = new Date(end + 60_000);
      const upkeep = registerTasks(manualAdapter(), {
        tasks: [trainingTask({ telemetry: { table, columns: { timestamp: "ts", label: "is_threat" } }, trainers: [threatClassifier()] })],
        db: database.knex,
        tablePrefix: prefix,
        clock: () => at,
        logger: silentLogger,
      });
      await upkeep.migrate();
      const models = () => listModels(database.knex, "threat-classifier", { tablePrefix: prefix });
      return { prefix, upkeep, models };
    }

    it("training: the promotion and its model.promoted event commit together", async () => {
      const h = await training();
      expect((await h.upkeep.run("training")).status).toBe("succeeded");
      expect((await h.models()).map((model) => `${model.version} ${model.champion}`)).toEqual(["1 true"]);
      const rows = await eventRows(h.prefix);
      expect(rows.map((row) => `${row.type} ${row.data.name} ${row.data.version}`)).toEqual(["model.promoted threat-classifier 1"]);
      await h.upkeep.stop();
    });

    it("training: a model.promoted event the outbox refuses leaves no model and no champion", async () => {
      const h = await training();
      await refuse(database.knex, dialect, `${h.prefix}events`, "type", "model.promoted");
      expect((await h.upkeep.run("training")).status).toBe("failed");
      expect(await h.models()).toEqual([]);
      expect(await eventRows(h.prefix)).toEqual([]);
      await h.upkeep.stop();
    });
  });
}

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createCrypto,
  heartbeatsTask,
  knexStore,
  localKek,
  manualAdapter,
  registerTasks,
  type StoredEvent,
  silentLogger,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, startStripeServer, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccountsTable } from "./fixtures/billing-accounts.ts";
import { type FixtureProcess, killHard, startFixture, untilOutput } from "./fixtures/child.ts";

const TOKENS = 60;
const HOUR = 3_600_000;
let prefixes = 0;

/** Every `delivered <eventId> <subject>` line a fixture printed. */
function deliveredLines(output: string): Array<{ id: string; subject: string }> {
  return [...output.matchAll(/^delivered (\S+) (\S+)$/gm)].map((match) => ({ id: match[1] as string, subject: match[2] as string }));
}

/** Collects a fixture's whole output until it exits or is killed. */
function collect(child: FixtureProcess): { text: () => string } {
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { text: () => output };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`events outbox on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    async function setup() {
      const prefix = `ev${++prefixes}_`;
      const table = `${prefix}agent_tokens`;
      const db = database.knex;
      await db.schema.createTable(table, (t) => {
        t.increments("id");
        t.string("status", 20).notNullable();
        t.integer("heartbeat_required_every").nullable();
        t.bigInteger("last_heartbeat_at").nullable();
        t.bigInteger("created_at").notNullable();
        t.bigInteger("suspended_at").nullable();
        t.string("suspended_reason", 40).nullable();
      });
      const now = Date.now();
      const rows = [];
      // Overdue ones, and on-time ones the pass must never touch.
      for (let i = 0; i < TOKENS; i++)
        rows.push({ status: "ACTIVE", heartbeat_required_every: 60, last_heartbeat_at: now - HOUR, created_at: now - HOUR });
      for (let i = 0; i < 10; i++)
        rows.push({ status: "ACTIVE", heartbeat_required_every: 3600, last_heartbeat_at: now, created_at: now - HOUR });
      await db(table).insert(rows);
      return { prefix, table, db };
    }

    /** A second host on the database that sweeps the outbox once the dead writer's lease is over. */
    async function sweepAfterLease(prefix: string) {
      const seen: StoredEvent[] = [];
      const upkeep = registerTasks(manualAdapter(), {
        tasks: [],
        db: database.connect(),
        tablePrefix: prefix,
        logger: silentLogger,
        lease: "1s",
      });
      upkeep.on("event", ({ event }) => void seen.push(event));
      await wait(1_200);
      await upkeep.events.sweep();
      return { seen, upkeep };
    }

    for (const point of ["hold", "random"] as const) {
      it(`heartbeats killed ${point === "hold" ? "between a commit and its delivery" : "at a random point of a pass"}: one event row per suspended token, each delivered`, async () => {
        const s = await setup();
        const child = startFixture("events-child", [dialect, database.target, s.prefix, "heartbeats", point, s.table]);
        const output = collect(child);
        const batches = 1 + Math.floor(Math.random() * 4);
        await untilOutput(child, (text) =>
          point === "hold" ? text.includes("holding") : (text.match(/^batch /gm)?.length ?? 0) >= batches,
        );
        await killHard(child);

        const { seen, upkeep } = await sweepAfterLease(s.prefix);
        const suspended = (await s.db(s.table).where({ status: "SUSPENDED" }).select("id")).map((row) => String(row.id));
        expect(suspended.length).toBeGreaterThan(0);
        const rows = await s.db(`${s.prefix}events`).select("*");
        const subjects = rows.map((row) => String(JSON.parse(row.data as string).tokenId));
        // Exactly one row per suspended token, none for a token the pass did not change.
        expect([...subjects].sort()).toEqual([...suspended].sort());
        expect(rows.every((row) => row.type === "agent.suspended")).toBe(true);
        expect(rows.every((row) => row.state === "delivered")).toBe(true);
        // At least one delivery of each: by the writer before it died, or by the sweep.
        const delivered = new Set([...deliveredLines(output.text()).map((line) => line.id), ...seen.map((event) => event.id)]);
        for (const row of rows) expect(delivered.has(String(row.id))).toBe(true);
        expect(seen.every((event) => event.task === "heartbeats" && event.type === "agent.suspended")).toBe(true);
        if (point === "hold") expect(seen.length).toBeGreaterThan(0);

        // The next pass finishes the job and its events are delivered in the run.
        const after: StoredEvent[] = [];
        const next = registerTasks(manualAdapter(), {
          tasks: [heartbeatsTask({ table: s.table, batchSize: 10 })],
          db: s.db,
          tablePrefix: s.prefix,
          logger: silentLogger,
        });
        next.on("event", ({ event }) => void after.push(event));
        await next.run("heartbeats");
        expect(Number((await s.db(s.table).where({ status: "SUSPENDED" }).count({ n: "*" }).first())?.n)).toBe(TOKENS);
        expect(Number((await s.db(s.table).where({ status: "ACTIVE" }).count({ n: "*" }).first())?.n)).toBe(10);
        const total = await s.db(`${s.prefix}events`).count({ n: "*" }).first();
        expect(Number(total?.n)).toBe(TOKENS);
        expect(after.length).toBe(TOKENS - suspended.length);
        await upkeep.stop();
      });
    }

    it("key-rotation killed between the commit of the new key and its delivery: one rotated event, delivered", async () => {
      const s = await setup();
      const kekHex = randomBytes(32).toString("hex");
      const crypto = createCrypto({ db: s.db, kek: localKek(kekHex), tablePrefix: s.prefix });
      const child = startFixture("events-child", [dialect, database.target, s.prefix, "key-rotation", "hold", kekHex]);
      const output = collect(child);
      await untilOutput(child, (text) => text.includes("holding"));
      await killHard(child);
      const { seen, upkeep } = await sweepAfterLease(s.prefix);
      const active = await crypto.activeKey();
      const rows = await s.db(`${s.prefix}events`).where({ type: "key-rotation.rotated" });
      expect(rows).toHaveLength(1);
      expect(JSON.parse(rows[0].data as string).keyId).toBe(active?.id);
      expect(rows[0].state).toBe("delivered");
      expect(deliveredLines(output.text()).map((line) => line.id)).toEqual([rows[0].id]);
      expect(seen.map((event) => event.id)).toEqual([rows[0].id]);
      await upkeep.stop();
    });

    it("billing-sync killed between a batch's commit and its delivery: one event row per plan change, each delivered", async () => {
      const s = await setup();
      const stripe = await startStripeServer();
      try {
        const table = `${s.prefix}accounts`;
        await createAccountsTable(s.db, table);
        const updatedAt = new Date(Date.now() - 86_400_000);
        await s.db(table).insert([
          { stripe_customer_id: "cus_lapsed", plan: "pro", updated_at: updatedAt },
          { stripe_customer_id: "cus_entitled", plan: "starter", updated_at: updatedAt },
          { stripe_customer_id: "cus_same", plan: "pro", updated_at: updatedAt },
        ]);
        const at = Math.floor(Date.now() / 1000) - 86_400;
        const fixture = (id: string, customer: string, status: string, price: string) => ({
          id,
          customer,
          status,
          prices: [price],
          created: at,
          currentPeriodStart: at,
          currentPeriodEnd: at + 30 * 86_400,
        });
        stripe.setSubscriptions([
          fixture("sub_lapsed", "cus_lapsed", "canceled", "price_pro"),
          fixture("sub_up", "cus_entitled", "active", "price_pro"),
          fixture("sub_same", "cus_same", "active", "price_pro"),
        ]);
        const args = JSON.stringify({ table, stripe: stripe.clientOptions });
        const child = startFixture("events-child", [dialect, database.target, s.prefix, "billing-sync", "hold", args]);
        const output = collect(child);
        await untilOutput(child, (text) => text.includes("holding"));
        await killHard(child);
        const { seen, upkeep } = await sweepAfterLease(s.prefix);
        const plans = Object.fromEntries(
          (await s.db(table).select("stripe_customer_id", "plan")).map((row) => [row.stripe_customer_id, row.plan]),
        );
        expect(plans).toEqual({ cus_lapsed: "free", cus_entitled: "pro", cus_same: "pro" });
        const rows = await s.db(`${s.prefix}events`).select("*");
        // Exactly one row per changed account, none for the unchanged one.
        expect(rows.map((row) => `${row.type} ${JSON.parse(row.data as string).customerId}`).sort()).toEqual([
          "billing.downgraded cus_lapsed",
          "billing.upgraded cus_entitled",
        ]);
        expect(rows.every((row) => row.state === "delivered")).toBe(true);
        const delivered = new Set([...deliveredLines(output.text()).map((line) => line.id), ...seen.map((event) => event.id)]);
        for (const row of rows) expect(delivered.has(String(row.id))).toBe(true);
        expect(seen.length).toBeGreaterThan(0);
        await upkeep.stop();
      } finally {
        await stripe.close();
      }
    });

    it("ioc-ingest killed between the held feed's commit and its delivery: one ioc.feed_held row, delivered", async () => {
      const s = await setup();
      const server = createServer((req, res) => {
        res.statusCode = req.url === "/steady" ? 200 : 500;
        res.end(req.url === "/steady" ? "evil.example\n" : "boom");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const args = JSON.stringify({ failing: `${base}/alpha`, steady: `${base}/steady` });
        const child = startFixture("events-child", [dialect, database.target, s.prefix, "ioc-ingest", "hold", args]);
        const output = collect(child);
        await untilOutput(child, (text) => text.includes("holding"));
        await killHard(child);
        const { seen, upkeep } = await sweepAfterLease(s.prefix);
        const feed = await s.db(`${s.prefix}feeds`).where({ name: "alpha" }).first();
        expect(feed?.status).toBe("failed");
        const rows = await s.db(`${s.prefix}events`).select("*");
        expect(rows.map((row) => `${row.type} ${JSON.parse(row.data as string).feed}`)).toEqual(["ioc.feed_held alpha"]);
        expect(rows[0].state).toBe("delivered");
        expect(deliveredLines(output.text()).map((line) => line.id)).toEqual([rows[0].id]);
        expect(seen.map((event) => event.id)).toEqual([rows[0].id]);
        await upkeep.stop();
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it("a sweep in the writer's own process takes only what it claimed, not the run's events in flight", async () => {
      const s = await setup();
      const store = knexStore(s.db, { tablePrefix: s.prefix });
      await store.migrate();
      const left: StoredEvent = {
        id: "01LEFT0000000000000000000",
        task: "custom",
        runId: "run-gone",
        type: "custom.thing",
        severity: "info",
        security: false,
        data: {},
        createdAt: new Date(),
      };
      await store.events?.write([left], { owner: "dead", until: new Date(Date.now() - 1000) });
      const upkeep = registerTasks(manualAdapter(), {
        tasks: [heartbeatsTask({ table: s.table, batchSize: 10 })],
        db: s.db,
        tablePrefix: s.prefix,
        logger: silentLogger,
      });
      const seen = new Map<string, number>();
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let held: () => void = () => {};
      const holding = new Promise<void>((resolve) => {
        held = resolve;
      });
      let blocked = false;
      upkeep.on("event", async ({ event }) => {
        seen.set(event.id, (seen.get(event.id) ?? 0) + 1);
        if (event.task === "heartbeats" && !blocked) {
          blocked = true;
          held();
          await gate;
        }
      });
      const run = upkeep.run("heartbeats");
      await holding;
      // The run's first batch is committed and its delivery is held: its rows are pending under this
      // process's lease. The sweep must deliver only the dead writer's event.
      expect(await upkeep.events.sweep()).toBe(1);
      release();
      await run;
      const rows = await s.db(`${s.prefix}events`).select("id", "state");
      expect(rows).toHaveLength(TOKENS + 1);
      expect(rows.every((row) => row.state === "delivered")).toBe(true);
      // Each of the run's events reached the handler once (the gone run's event skips handlers).
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
      expect(seen.size).toBe(TOKENS);
    });

    it("three processes sweeping at once deliver each pending event once (no deadlock victim)", async () => {
      const s = await setup();
      const store = knexStore(s.db, { tablePrefix: s.prefix });
      await store.migrate();
      const createdAt = new Date();
      const total = 3000;
      const events: StoredEvent[] = Array.from({ length: total }, (_, i) => ({
        id: `01SWEEP${String(i).padStart(19, "0")}`,
        task: "custom",
        runId: "run-gone",
        type: "custom.thing",
        severity: "info",
        security: false,
        data: { tokenId: i },
        createdAt,
      }));
      // Written by a "writer" whose lease already ended.
      await store.events?.write(events, { owner: "dead", until: new Date(Date.now() - 1000) });
      // All start sweeping at the same moment, once their (slow) start-up is over. On MariaDB the
      // claims and the delivery marks of three sweepers used to deadlock, and the victim's sweep threw.
      const children = [0, 1, 2].map(() => startFixture("events-child", [dialect, database.target, s.prefix, "sweep", "", ""]));
      const outputs = children.map(collect);
      await Promise.all(children.map((child) => untilOutput(child, (text) => text.includes("ready"))));
      for (const child of children) child.kill("SIGUSR2");
      const codes = await Promise.all(children.map((child) => new Promise((resolve) => child.once("exit", resolve))));
      expect(codes).toEqual([0, 0, 0]);
      // The run is gone from the history, so handlers are skipped; count what each swept instead.
      const counts = outputs.map((output) => Number(/swept (\d+)/.exec(output.text())?.[1]));
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(total);
      const rows = await s.db(`${s.prefix}events`).select("state", "attempts");
      expect(rows.every((row) => row.state === "delivered")).toBe(true);
      // Each was taken once by the writer (attempt 1) and once by exactly one sweeper.
      expect(rows.every((row) => Number(row.attempts) === 2)).toBe(true);
    }, 120_000);

    it("a dry run writes no event rows and sends nothing", async () => {
      const s = await setup();
      const seen: unknown[] = [];
      const upkeep = registerTasks(manualAdapter(), {
        tasks: [heartbeatsTask({ table: s.table })],
        db: s.db,
        tablePrefix: s.prefix,
        logger: silentLogger,
      });
      upkeep.on("event", (payload) => void seen.push(payload));
      const run = await upkeep.run("heartbeats", { dryRun: true });
      expect((run.result as { suspended: number }).suspended).toBe(TOKENS);
      expect(Number((await s.db(`${s.prefix}events`).count({ n: "*" }).first())?.n)).toBe(0);
      expect(seen).toEqual([]);
      const real = await upkeep.run("heartbeats");
      expect(real.status).toBe("succeeded");
      expect(seen).toHaveLength(TOKENS);
      expect(Number((await s.db(`${s.prefix}events`).where({ state: "delivered" }).count({ n: "*" }).first())?.n)).toBe(TOKENS);
    });
  });
}

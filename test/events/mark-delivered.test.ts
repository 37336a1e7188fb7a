import { type EventLease, knexStore, memoryStore, type RunStore, type StoredEvent } from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Marking delivered by the lease (one statement however many events) must mark exactly the events
// pending under that lease: not those a sweeper took meanwhile, not another write's.
const T0 = new Date("2026-03-01T12:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);
const lease = (owner: string, untilMs: number): EventLease => ({ owner, until: at(untilMs) });
const events = (prefix: string, count: number): StoredEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    id: `${prefix}${String(i).padStart(26 - prefix.length, "0")}`,
    task: "mark",
    runId: `run-${prefix}`,
    type: "item.done",
    severity: "info",
    security: false,
    data: { i },
    createdAt: T0,
  }));

async function markedByLease(store: RunStore) {
  const outbox = store.events;
  if (!outbox) throw new Error("the store has no outbox");
  const first = events("A", 3);
  const second = events("B", 2);
  const firstLease = lease("host:1:a:1", 30_000);
  const secondLease = lease("host:1:a:2", 30_000);
  await outbox.write(first, firstLease);
  await outbox.write(second, secondLease);
  // The writer was slower than its lease: a sweeper took its events (a new owner) before the mark.
  const sweeper = lease("host:2:b:1", 90_000);
  const taken = await outbox.claimPending(at(31_000), sweeper, 500);
  expect(taken.map((event) => event.id).sort()).toEqual([...first, ...second].map((event) => event.id).sort());
  const third = events("C", 2);
  const thirdLease = lease("host:1:a:3", 30_000);
  await outbox.write(third, thirdLease);

  // The first writer's late mark leaves the sweeper's rows pending; a mark of the third write marks only it.
  await outbox.markDelivered(
    first.map((event) => event.id),
    at(32_000),
    firstLease,
  );
  await outbox.markDelivered(
    third.map((event) => event.id),
    at(32_000),
    thirdLease,
  );
  const state = async () =>
    Object.fromEntries((await outbox.list({ limit: 100 })).map((event) => [event.id, event.state])) as Record<string, string>;
  let states = await state();
  expect(first.map((event) => states[event.id])).toEqual(["pending", "pending", "pending"]);
  expect(second.map((event) => states[event.id])).toEqual(["pending", "pending"]);
  expect(third.map((event) => states[event.id])).toEqual(["delivered", "delivered"]);

  // The sweeper's mark by its own lease marks everything it took, and nothing is taken again.
  await outbox.markDelivered(
    taken.map((event) => event.id),
    at(33_000),
    sweeper,
  );
  states = await state();
  expect(Object.values(states).every((value) => value === "delivered")).toBe(true);
  expect(await outbox.claimPending(at(200_000), lease("host:3:c:1", 230_000), 500)).toEqual([]);
}

describe("marking events delivered by their lease, memory store", () => {
  it("marks only the events pending under the lease: a sweeper's rows and other writes stay as they are", async () => {
    await markedByLease(memoryStore());
  });
});

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`marking events delivered by their lease on ${dialect}`, () => {
    let database: TestDatabase;
    let store: RunStore;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      store = knexStore(database.knex, { tablePrefix: "markdl_" });
      await store.migrate();
    });
    afterAll(async () => {
      await database?.destroy();
    });

    it("marks only the events pending under the lease: a sweeper's rows and other writes stay as they are", async () => {
      await markedByLease(store);
    });
  });
}

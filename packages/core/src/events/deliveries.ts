import type { Knex } from "knex";

/** A delivery's state: waiting for (another) attempt, received by the endpoint, or given up. */
export type DeliveryState = "pending" | "delivered" | "failed";

/** One row of `<prefix>event_deliveries`, as the sender reads it back once it holds the lease. */
export interface ClaimedDelivery {
  eventId: string;
  payload: string;
  attempts: number;
  giveUpAt: number;
}

/** What an attempt that did not deliver leaves behind. */
export interface AttemptFailure {
  attempts: number;
  status: number | null;
  error: string;
  /** `failed` when the retry bound is reached, else `pending` with `nextAttemptAt`. */
  state: "pending" | "failed";
  nextAttemptAt: number;
}

const num = (value: unknown): number => Number(value);

/**
 * The SQL of webhook deliveries, one target's rows at a time. Times are epoch milliseconds. Every
 * change to a claimed row checks the lease owner, so a sender whose lease ran out (and whose row
 * another process claimed) cannot overwrite the other's outcome.
 */
export class DeliveryTable {
  readonly #db: Knex;
  readonly #table: string;
  readonly #target: string;

  constructor(db: Knex, table: string, target: string) {
    this.#db = db;
    this.#table = table;
    this.#target = target;
  }

  #rows(): Knex.QueryBuilder {
    return this.#db(this.#table).where("target", this.#target);
  }

  /** Inserts a pending delivery, due now, unless the (event, target) row exists: accepting twice is one delivery. */
  async insert(eventId: string, payload: string, now: number, giveUpAt: number): Promise<void> {
    await this.#db(this.#table)
      .insert({
        event_id: eventId,
        target: this.#target,
        state: "pending",
        attempts: 0,
        payload,
        next_attempt_at: now,
        give_up_at: giveUpAt,
        created_at: now,
      })
      .onConflict(["event_id", "target"])
      .ignore();
  }

  /** Ids of pending deliveries due at `now` that no live lease holds, oldest due first. */
  async due(now: number, limit: number): Promise<string[]> {
    const rows = (await this.#rows()
      .where("state", "pending")
      .where("next_attempt_at", "<=", now)
      .where((q) => q.whereNull("lease_until").orWhere("lease_until", "<", now))
      .orderBy("next_attempt_at")
      .limit(limit)
      .select("event_id")) as Array<{ event_id: string }>;
    return rows.map((row) => row.event_id);
  }

  /**
   * Takes the lease on a due pending delivery: a compare-and-set on state, due time and lease, so
   * of two processes that both saw it due exactly one gets it. Returns the row, or null when the
   * other one won (or it is no longer due).
   */
  async claim(eventId: string, owner: string, now: number, leaseUntil: number): Promise<ClaimedDelivery | null> {
    const changed = await this.#rows()
      .where("event_id", eventId)
      .where("state", "pending")
      .where("next_attempt_at", "<=", now)
      .where((q) => q.whereNull("lease_until").orWhere("lease_until", "<", now))
      .update({ lease_owner: owner, lease_until: leaseUntil });
    if (changed !== 1) return null;
    const row = (await this.#rows().where({ event_id: eventId, lease_owner: owner }).first("payload", "attempts", "give_up_at")) as
      | { payload: string; attempts: unknown; give_up_at: unknown }
      | undefined;
    if (!row) return null;
    return { eventId, payload: row.payload, attempts: num(row.attempts), giveUpAt: num(row.give_up_at) };
  }

  #held(eventId: string, owner: string): Knex.QueryBuilder {
    return this.#rows().where({ event_id: eventId, lease_owner: owner, state: "pending" });
  }

  /** Records a delivery the endpoint accepted (a 2xx). */
  async delivered(eventId: string, owner: string, attempts: number, status: number, at: number): Promise<void> {
    await this.#held(eventId, owner).update({
      state: "delivered",
      attempts,
      last_status: status,
      last_error: null,
      delivered_at: at,
      lease_owner: null,
      lease_until: null,
    });
  }

  /** Records an attempt that did not deliver: a later retry, or `failed` past the bound. */
  async attemptFailed(eventId: string, owner: string, failure: AttemptFailure): Promise<void> {
    await this.#held(eventId, owner).update({
      state: failure.state,
      attempts: failure.attempts,
      last_status: failure.status,
      last_error: failure.error.slice(0, 512),
      next_attempt_at: failure.nextAttemptAt,
      lease_owner: null,
      lease_until: null,
    });
  }

  /** Gives the lease back without counting an attempt (the sender was stopped mid-request). */
  async release(eventId: string, owner: string): Promise<void> {
    await this.#held(eventId, owner).update({ lease_owner: null, lease_until: null });
  }

  /**
   * Makes deliveries pending and due at `now` again, with a fresh retry bound and no attempts:
   * every `failed` one, or the given events' whatever their state. Returns the ids it reset.
   */
  async reset(eventIds: readonly string[] | undefined, now: number, giveUpAt: number): Promise<string[]> {
    const select = () => {
      const query = this.#rows();
      return eventIds === undefined ? query.where("state", "failed") : query.whereIn("event_id", [...eventIds]);
    };
    const rows = (await select().select("event_id")) as Array<{ event_id: string }>;
    const ids = rows.map((row) => row.event_id);
    for (let at = 0; at < ids.length; at += 500) {
      const batch = ids.slice(at, at + 500);
      await this.#rows()
        .whereIn("event_id", batch)
        .whereIn("state", eventIds === undefined ? ["failed"] : ["failed", "delivered", "pending"])
        // A delivery being sent right now keeps its lease: resetting it would send it twice.
        .where((q) => q.whereNull("lease_until").orWhere("lease_until", "<", now))
        .update({ state: "pending", attempts: 0, next_attempt_at: now, give_up_at: giveUpAt, lease_owner: null, lease_until: null });
    }
    return ids;
  }
}

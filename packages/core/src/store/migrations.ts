import type { Knex } from "knex";
import { dialectOf } from "../db.ts";
import {
  addColumnIfMissing,
  addIndexIfMissing,
  createTableIfMissing,
  dropIndexIfPresent,
  hasRows,
  setPrimaryKey,
  tableExists,
} from "./schema-steps.ts";

/**
 * One schema step of upkeep's own tables. `prefix` is the configured table prefix. `up` must be
 * safe to run again after it stopped part-way (MySQL/MariaDB commit each DDL statement): build it
 * from the checking steps in `schema-steps.ts` (`createTableIfMissing`, `addIndexIfMissing`, ...).
 */
export interface UpkeepMigration {
  /** The migration's name, recorded once applied, such as `0001_runs`. */
  name: string;
  /** Applies the migration to the tables named with `prefix`; resumable after a failure part-way. */
  up(db: Knex, prefix: string): Promise<void>;
  /** Reverts `up`. */
  down(db: Knex, prefix: string): Promise<void>;
}

/** Epoch-millisecond time column: exact, comparable and identical on every dialect. */
export function timeColumn(table: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return table.bigInteger(name);
}

/** A text column large enough for a JSON result or a stack on every dialect. */
export function longText(table: Knex.TableBuilder, name: string): Knex.ColumnBuilder {
  return table.text(name, "mediumtext");
}

const runs: UpkeepMigration = {
  name: "0001_runs",
  async up(db, prefix) {
    const name = `${prefix}runs`;
    await createTableIfMissing(db, name, (table) => {
      table.string("id", 36).primary();
      table.string("task_id", 128).notNullable();
      table.string("claim_key", 64).notNullable();
      timeColumn(table, "scheduled_for").notNullable();
      table.string("trigger", 16).notNullable();
      table.string("status", 16).notNullable();
      table.integer("attempt").notNullable().defaultTo(1);
      table.boolean("dry_run").notNullable().defaultTo(false);
      timeColumn(table, "claimed_at").notNullable();
      timeColumn(table, "finished_at");
      timeColumn(table, "lease_until");
      table.integer("duration_ms");
      longText(table, "result");
      table.string("reason", 512);
      longText(table, "error_message");
      longText(table, "error_stack");
      table.string("host", 255).notNullable();
      table.integer("pid").notNullable();
    });
    await addIndexIfMissing(db, name, ["task_id", "claim_key"], `${prefix}runs_claim_unique`, { unique: true });
    await addIndexIfMissing(db, name, ["task_id", "status"], `${prefix}runs_task_status`);
    await addIndexIfMissing(db, name, ["claimed_at"], `${prefix}runs_claimed_at`);
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}runs`);
  },
};

/** The keyring of the key-rotation task: data keys, stored only wrapped by the KEK. */
const keys: UpkeepMigration = {
  name: "0002_keys",
  async up(db, prefix) {
    const name = `${prefix}keys`;
    await createTableIfMissing(db, name, (table) => {
      table.string("id", 32).primary();
      table.integer("generation").notNullable();
      table.string("algorithm", 32).notNullable();
      longText(table, "wrapped_key").notNullable();
      table.string("kek_id", 255).notNullable();
      timeColumn(table, "created_at").notNullable();
      timeColumn(table, "retired_at");
    });
    await addIndexIfMissing(db, name, ["generation"], `${prefix}keys_generation_unique`, { unique: true });
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}keys`);
  },
};

/** The training task's model registry: every trained model, its metrics, window and artifact. */
const models: UpkeepMigration = {
  name: "0003_models",
  async up(db, prefix) {
    const name = `${prefix}models`;
    await createTableIfMissing(db, name, (table) => {
      table.string("id", 36).primary();
      table.string("name", 100).notNullable();
      table.integer("version").notNullable();
      table.boolean("champion").notNullable().defaultTo(false);
      longText(table, "metrics").notNullable();
      timeColumn(table, "window_from").notNullable();
      timeColumn(table, "window_to").notNullable();
      table.string("run_id", 36);
      timeColumn(table, "created_at").notNullable();
      table.string("reason", 512);
      table.string("artifact_format", 16).notNullable();
      table.string("artifact_sha256", 64).notNullable();
      longText(table, "artifact").notNullable();
    });
    await addIndexIfMissing(db, name, ["name", "version"], `${prefix}models_version_unique`, { unique: true });
    await addIndexIfMissing(db, name, ["name", "champion"], `${prefix}models_champion`);
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}models`);
  },
};

/** MySQL/MariaDB: ioc values are ASCII after normalisation; ascii_bin keeps unique keys short and case-sensitive. */
function asciiColumn(db: Knex): (column: Knex.ColumnBuilder) => Knex.ColumnBuilder {
  return (column) => (dialectOf(db) === "mysql" ? column.collate("ascii_bin") : column);
}

/** The primary key of the ioc listing table in each of its shapes (0004, 0005, 0006). */
const LISTING_KEYS = {
  "0004_ioc": ["feed", "kind", "value"],
  "0005_ioc_listing_key": ["kind", "value", "feed"],
  "0006_ioc_listing_by_id": ["indicator_id", "feed"],
} as const;
type ListingShape = keyof typeof LISTING_KEYS;

/** The listing table's expiry index, in every shape. */
const listingExpiry = (prefix: string) => ({ columns: ["feed", "last_seen"], name: `${prefix}indicator_feeds_feed_seen` });

/**
 * Creates the ioc listing table (`<prefix>indicator_feeds`) in one of its shapes, unless it
 * exists: keyed by the indicator's (kind, value) up to 0005, by its integer id from 0006. The other
 * columns are the same in every shape; indexes are separate steps. From 0006 SQLite stores it
 * `WITHOUT ROWID`: its rows are narrow (two integers, a feed name, three times), so the primary
 * key's B-tree holds the rows themselves instead of a key index beside a rowid table.
 */
async function createListingTable(db: Knex, prefix: string, shape: ListingShape): Promise<void> {
  const name = `${prefix}indicator_feeds`;
  if (await tableExists(db, name)) return;
  const ascii = asciiColumn(db);
  const byId = shape === "0006_ioc_listing_by_id";
  const builder = db.schema.createTable(name, (table) => {
    if (byId) table.bigInteger("indicator_id").unsigned().notNullable();
    ascii(table.string("feed", 64)).notNullable();
    if (!byId) {
      table.string("kind", 8).notNullable();
      ascii(table.string("value", 1024)).notNullable();
    }
    table.integer("confidence").notNullable();
    timeColumn(table, "first_seen").notNullable();
    timeColumn(table, "last_seen").notNullable();
    timeColumn(table, "valid_until");
    table.primary([...LISTING_KEYS[shape]]);
  });
  if (!(byId && dialectOf(db) === "sqlite")) {
    await builder;
    return;
  }
  const [create, ...rest] = builder.toSQL();
  if (!create || !/^create table/i.test(create.sql)) throw new Error(`[upkeep] unexpected DDL for ${name}`);
  await db.raw(`${create.sql} without rowid`, create.bindings);
  for (const statement of rest) await db.raw(statement.sql, statement.bindings);
}

/**
 * Rebuilds the ioc listing table in another shape, copying its rows with `copy` (an
 * `insert … select` from the old table, named by its argument, into the new). The old table is
 * renamed aside first, its primary key constraint (named after the table on PostgreSQL) and its
 * expiry index (index names are per schema on PostgreSQL and SQLite) out of the new one's way; the
 * expiry index is built after the copy. Each step checks where an interrupted run stopped: the
 * aside table exists from the rename until the end, the new table is empty until the copy (one
 * statement) is done, and the new table's own key column tells a finished rebuild.
 */
async function rebuildListingTable(db: Knex, prefix: string, shape: ListingShape, copy: (from: string) => Knex.Raw): Promise<void> {
  const name = `${prefix}indicator_feeds`;
  const aside = `${prefix}indicator_feeds_rebuild`;
  const expiry = listingExpiry(prefix);
  if (!(await tableExists(db, aside))) {
    const marker = shape === "0006_ioc_listing_by_id" ? "indicator_id" : "value";
    if (await db.schema.hasColumn(name, marker)) {
      await addIndexIfMissing(db, name, expiry.columns, expiry.name);
      return;
    }
    await db.schema.renameTable(name, aside);
    if (dialectOf(db) === "postgres") await db.raw("alter table ?? rename constraint ?? to ??", [aside, `${name}_pkey`, `${aside}_pkey`]);
  }
  await dropIndexIfPresent(db, aside, expiry.columns, expiry.name);
  await createListingTable(db, prefix, shape);
  if (!(await hasRows(db, name))) await copy(aside);
  await db.schema.dropTable(aside);
  await addIndexIfMissing(db, name, expiry.columns, expiry.name);
}

/** The ioc-ingest task's tables: feed state, indicators, and which feed lists which indicator since when. */
const iocFeedsAndIndicators: UpkeepMigration = {
  name: "0004_ioc",
  async up(db, prefix) {
    const ascii = asciiColumn(db);
    await createTableIfMissing(db, `${prefix}feeds`, (table) => {
      ascii(table.string("name", 64)).primary();
      table.string("format", 32).notNullable();
      table.string("status", 16).notNullable();
      table.string("etag", 512);
      table.string("last_modified", 64);
      table.string("cursor", 64);
      table.bigInteger("ttl_ms").notNullable();
      table.boolean("incremental").notNullable().defaultTo(false);
      table.integer("listed").notNullable().defaultTo(0);
      table.integer("version").notNullable().defaultTo(0);
      timeColumn(table, "checked_at");
      timeColumn(table, "fetched_at");
      timeColumn(table, "changed_at");
      table.string("error", 512);
    });
    const indicators = `${prefix}indicators`;
    await createTableIfMissing(db, indicators, (table) => {
      table.bigIncrements("id").primary();
      table.string("kind", 8).notNullable();
      ascii(table.string("value", 1024)).notNullable();
      table.text("feeds").notNullable();
      table.integer("confidence").notNullable();
      timeColumn(table, "first_seen").notNullable();
      timeColumn(table, "last_seen").notNullable();
    });
    await addIndexIfMissing(db, indicators, ["kind", "value"], `${prefix}indicators_kind_value`, { unique: true });
    await createListingTable(db, prefix, "0004_ioc");
    const listing = `${prefix}indicator_feeds`;
    await addIndexIfMissing(db, listing, ["kind", "value"], `${prefix}indicator_feeds_kind_value`);
    const expiry = listingExpiry(prefix);
    await addIndexIfMissing(db, listing, expiry.columns, expiry.name);
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}indicator_feeds`);
    await db.schema.dropTableIfExists(`${prefix}indicators`);
    await db.schema.dropTableIfExists(`${prefix}feeds`);
  },
};

/**
 * ioc-ingest: the listing table's key leads with the indicator, (kind, value, feed), so it also
 * serves lookups by indicator and the separate (kind, value) index goes: one index fewer to
 * maintain on every ingested row (on SQLite the ingest's largest cost).
 */
const iocListingKey: UpkeepMigration = {
  name: "0005_ioc_listing_key",
  async up(db, prefix) {
    const listing = `${prefix}indicator_feeds`;
    await dropIndexIfPresent(db, listing, ["kind", "value"], `${prefix}indicator_feeds_kind_value`);
    await setPrimaryKey(db, listing, LISTING_KEYS["0005_ioc_listing_key"]);
  },
  async down(db, prefix) {
    const listing = `${prefix}indicator_feeds`;
    await setPrimaryKey(db, listing, LISTING_KEYS["0004_ioc"]);
    await addIndexIfMissing(db, listing, ["kind", "value"], `${prefix}indicator_feeds_kind_value`);
  },
};

/**
 * ioc-ingest: the listing table refers to the indicator by its integer id, keyed
 * (indicator_id, feed), instead of repeating its kind and value: narrow rows and a narrow key, and
 * an ingest appends new listings at the end of the key's B-tree (ids grow). Rows are carried over
 * by joining on (kind, value); a listing without its indicator row (there should be none) is
 * dropped. No foreign key: the task deletes an indicator only once no listing refers to it, and a
 * checked reference would cost the ingest a lookup per row.
 */
const iocListingById: UpkeepMigration = {
  name: "0006_ioc_listing_by_id",
  async up(db, prefix) {
    const indicators = `${prefix}indicators`;
    await rebuildListingTable(db, prefix, "0006_ioc_listing_by_id", (from) =>
      db.raw(
        `insert into ?? (indicator_id, feed, confidence, first_seen, last_seen, valid_until)
          select i.id, s.feed, s.confidence, s.first_seen, s.last_seen, s.valid_until
          from ?? s join ?? i on i.kind = s.kind and i.value = s.value
          order by i.id, s.feed`,
        [`${prefix}indicator_feeds`, from, indicators],
      ),
    );
  },
  async down(db, prefix) {
    const indicators = `${prefix}indicators`;
    await rebuildListingTable(db, prefix, "0005_ioc_listing_key", (from) =>
      db.raw(
        `insert into ?? (feed, kind, value, confidence, first_seen, last_seen, valid_until)
          select s.feed, i.kind, i.value, s.confidence, s.first_seen, s.last_seen, s.valid_until
          from ?? s join ?? i on i.id = s.indicator_id
          order by i.kind, i.value, s.feed`,
        [`${prefix}indicator_feeds`, from, indicators],
      ),
    );
  },
};

/** The abandoned-run sweep reads the running runs of every task whose lease ended: by status and lease. */
const runsLeaseIndex: UpkeepMigration = {
  name: "0007_runs_lease",
  async up(db, prefix) {
    await addIndexIfMissing(db, `${prefix}runs`, ["status", "lease_until"], `${prefix}runs_status_lease`);
  },
  async down(db, prefix) {
    await db.schema.alterTable(`${prefix}runs`, (table) => {
      table.dropIndex(["status", "lease_until"], `${prefix}runs_status_lease`);
    });
  },
};

/**
 * Per-task state shared by the cluster: the pause flag, since when ticks are expected (health), and
 * the health state last announced, updated by compare-and-set so one process announces each change;
 * and the runs index health reads a task's latest ticks by.
 */
const taskState: UpkeepMigration = {
  name: "0008_task_state",
  async up(db, prefix) {
    await createTableIfMissing(db, `${prefix}task_state`, (table) => {
      table.string("task_id", 128).primary();
      table.boolean("paused").notNullable().defaultTo(false);
      timeColumn(table, "paused_at");
      table.string("paused_reason", 512);
      timeColumn(table, "watched_since");
      table.string("announced", 16);
      timeColumn(table, "updated_at").notNullable();
    });
    // Health reads each task's latest ticks: without it, every scrape sorts the task's whole history.
    await addIndexIfMissing(db, `${prefix}runs`, ["task_id", "scheduled_for"], `${prefix}runs_task_tick`);
  },
  async down(db, prefix) {
    await db.schema.alterTable(`${prefix}runs`, (table) => {
      table.dropIndex(["task_id", "scheduled_for"], `${prefix}runs_task_tick`);
    });
    await db.schema.dropTableIfExists(`${prefix}task_state`);
  },
};

/**
 * The dependency-audit task's tables: its findings (open and fixed, one row per finding of one
 * task, keyed by a digest of task, lockfile, kind, package, version and advisory) and its cache of
 * abbreviated packuments (validator and the few fields the audit reads, keyed by a digest of
 * registry and name).
 */
const auditFindings: UpkeepMigration = {
  name: "0009_audit_findings",
  async up(db, prefix) {
    const findings = `${prefix}audit_findings`;
    await createTableIfMissing(db, findings, (table) => {
      table.string("id", 64).primary();
      table.string("task_id", 64).notNullable();
      table.string("lockfile", 1024).notNullable();
      table.string("kind", 32).notNullable();
      table.string("package", 214).notNullable();
      table.string("version", 256).notNullable();
      table.string("advisory", 128).notNullable();
      table.string("severity", 16).notNullable();
      table.string("title", 512);
      table.string("url", 1024);
      table.string("vulnerable_range", 512);
      table.string("fixed_in", 256);
      table.boolean("dev").notNullable().defaultTo(false);
      longText(table, "paths").notNullable();
      table.string("detail", 512);
      table.string("status", 8).notNullable();
      timeColumn(table, "first_seen").notNullable();
      timeColumn(table, "last_seen").notNullable();
      timeColumn(table, "fixed_at");
      timeColumn(table, "alerted_at");
    });
    await addIndexIfMissing(db, findings, ["task_id", "status"], `${prefix}audit_findings_task_status`);
    await createTableIfMissing(db, `${prefix}audit_packuments`, (table) => {
      table.string("id", 64).primary();
      table.string("name", 214).notNullable();
      table.string("etag", 512);
      longText(table, "data").notNullable();
      timeColumn(table, "fetched_at").notNullable();
    });
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}audit_packuments`);
    await db.schema.dropTableIfExists(`${prefix}audit_findings`);
  },
};

/** The training task's promotion decision (both scores, the hold-out), stored as JSON with each model. */
const modelDecision: UpkeepMigration = {
  name: "0012_models_decision",
  async up(db, prefix) {
    await addColumnIfMissing(db, `${prefix}models`, "decision", (table) => {
      longText(table, "decision");
    });
  },
  async down(db, prefix) {
    await db.schema.alterTable(`${prefix}models`, (table) => {
      table.dropColumn("decision");
    });
  },
};

/**
 * ioc-ingest: a feed's download is staged here, one row per distinct indicator (withdrawn ones
 * flagged), and applied to the indicator and listing tables in one transaction once the download
 * is complete and passed its checks, so a failed, capped, timed-out or shrunk download never
 * becomes visible. Rows live only while their feed is being read.
 */
const iocStaging: UpkeepMigration = {
  name: "0010_ioc_staging",
  async up(db, prefix) {
    const ascii = asciiColumn(db);
    await createTableIfMissing(db, `${prefix}indicator_staging`, (table) => {
      ascii(table.string("feed", 64)).notNullable();
      ascii(table.string("kind", 8)).notNullable();
      ascii(table.string("value", 1024)).notNullable();
      timeColumn(table, "valid_until");
      table.boolean("withdrawn").notNullable().defaultTo(false);
      table.primary(["feed", "kind", "value"]);
    });
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}indicator_staging`);
  },
};

/**
 * billing-sync: since when each subscription has been `past_due`, as upkeep first saw it (or as its
 * latest invoice dates it, when earlier). Stripe keeps no such moment, and the grace counts from it.
 */
const billingPastDue: UpkeepMigration = {
  name: "0011_billing_past_due",
  async up(db, prefix) {
    await createTableIfMissing(db, `${prefix}billing_past_due`, (table) => {
      table.string("subscription_id", 255).primary();
      timeColumn(table, "since").notNullable();
      timeColumn(table, "seen_at").notNullable();
    });
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}billing_past_due`);
  },
};

/**
 * The events outbox: every event a task emits, written in the transaction of the change it reports,
 * kept `pending` under a delivery lease until handlers and targets have it, then `delivered` until
 * its retention ends. Indexed for the sweep (pending rows whose lease ended) and for listing.
 */
const events: UpkeepMigration = {
  name: "0013_events",
  async up(db, prefix) {
    const name = `${prefix}events`;
    await createTableIfMissing(db, name, (table) => {
      table.string("id", 26).primary();
      table.string("task", 128).notNullable();
      table.string("run_id", 36).notNullable();
      table.string("type", 128).notNullable();
      table.string("severity", 16).notNullable();
      table.boolean("security").notNullable().defaultTo(false);
      longText(table, "data").notNullable();
      timeColumn(table, "created_at").notNullable();
      table.string("state", 16).notNullable();
      table.string("lease_owner", 64);
      timeColumn(table, "lease_until");
      table.integer("attempts").notNullable().defaultTo(0);
      timeColumn(table, "delivered_at");
    });
    await addIndexIfMissing(db, name, ["state", "lease_until"], `${prefix}events_sweep`);
    await addIndexIfMissing(db, name, ["task", "created_at"], `${prefix}events_task_created`);
    await addIndexIfMissing(db, name, ["created_at"], `${prefix}events_created`);
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}events`);
  },
};

/**
 * Webhook deliveries: one row per event and target (the key makes `accept` idempotent), with the
 * signed payload's body, the retry state and the lease a sender holds while it posts. The index
 * serves the sweep's "due pending deliveries of this target".
 */
const eventDeliveries: UpkeepMigration = {
  name: "0014_event_deliveries",
  async up(db, prefix) {
    const name = `${prefix}event_deliveries`;
    await createTableIfMissing(db, name, (table) => {
      table.string("event_id", 64).notNullable();
      table.string("target", 128).notNullable();
      table.string("state", 16).notNullable();
      table.integer("attempts").notNullable().defaultTo(0);
      table.integer("last_status");
      table.string("last_error", 512);
      longText(table, "payload").notNullable();
      timeColumn(table, "next_attempt_at").notNullable();
      timeColumn(table, "give_up_at").notNullable();
      timeColumn(table, "created_at").notNullable();
      timeColumn(table, "delivered_at");
      table.string("lease_owner", 64);
      timeColumn(table, "lease_until");
      table.primary(["event_id", "target"]);
    });
    await addIndexIfMissing(db, name, ["target", "state", "next_attempt_at"], `${prefix}event_deliveries_due`);
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}event_deliveries`);
  },
};

/**
 * The dashboard's run list and duration sparkline read a task's runs newest first by
 * `(claimed_at, id)`, paged by a keyset cursor on both: one range of this index, without it a sort
 * of the task's whole history on every page.
 */
const runsTaskClaimed: UpkeepMigration = {
  name: "0015_runs_task_claimed",
  async up(db, prefix) {
    await addIndexIfMissing(db, `${prefix}runs`, ["task_id", "claimed_at", "id"], `${prefix}runs_task_claimed`);
  },
  async down(db, prefix) {
    await dropIndexIfPresent(db, `${prefix}runs`, ["task_id", "claimed_at", "id"], `${prefix}runs_task_claimed`);
  },
};

/** Every migration, in order. Tasks that own tables add theirs here (one entry each). */
export const MIGRATIONS: readonly UpkeepMigration[] = [
  runs,
  keys,
  models,
  iocFeedsAndIndicators,
  iocListingKey,
  iocListingById,
  runsLeaseIndex,
  taskState,
  auditFindings,
  iocStaging,
  billingPastDue,
  modelDecision,
  events,
  eventDeliveries,
  runsTaskClaimed,
];

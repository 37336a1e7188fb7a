import type { Knex } from "knex";
import { dialectOf } from "../db.ts";

/** One schema step of upkeep's own tables. `prefix` is the configured table prefix. */
export interface UpkeepMigration {
  name: string;
  up(db: Knex, prefix: string): Promise<void>;
  down(db: Knex, prefix: string): Promise<void>;
}

/** Epoch-millisecond time column: exact, comparable and identical on every dialect. */
export function timeColumn(table: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return table.bigInteger(name);
}

/** A text column large enough for a JSON result or a stack on every dialect. */
export function longText(table: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return table.text(name, "mediumtext");
}

const runs: UpkeepMigration = {
  name: "0001_runs",
  async up(db, prefix) {
    await db.schema.createTable(`${prefix}runs`, (table) => {
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
      table.unique(["task_id", "claim_key"], { indexName: `${prefix}runs_claim_unique` });
      table.index(["task_id", "status"], `${prefix}runs_task_status`);
      table.index(["claimed_at"], `${prefix}runs_claimed_at`);
    });
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}runs`);
  },
};

/** The keyring of the key-rotation task: data keys, stored only wrapped by the KEK. */
const keys: UpkeepMigration = {
  name: "0002_keys",
  async up(db, prefix) {
    await db.schema.createTable(`${prefix}keys`, (table) => {
      table.string("id", 32).primary();
      table.integer("generation").notNullable();
      table.string("algorithm", 32).notNullable();
      longText(table, "wrapped_key").notNullable();
      table.string("kek_id", 255).notNullable();
      timeColumn(table, "created_at").notNullable();
      timeColumn(table, "retired_at");
      table.unique(["generation"], { indexName: `${prefix}keys_generation_unique` });
    });
  },
  async down(db, prefix) {
    await db.schema.dropTableIfExists(`${prefix}keys`);
  },
};

/** The training task's model registry: every trained model, its metrics, window and artifact. */
const models: UpkeepMigration = {
  name: "0003_models",
  async up(db, prefix) {
    await db.schema.createTable(`${prefix}models`, (table) => {
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
      table.unique(["name", "version"], { indexName: `${prefix}models_version_unique` });
      table.index(["name", "champion"], `${prefix}models_champion`);
    });
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

/**
 * Creates the ioc listing table (`<prefix>indicator_feeds`) in one of its shapes: keyed by the
 * indicator's (kind, value) up to 0005, by its integer id from 0006. The other columns are the
 * same in every shape. From 0006 SQLite stores it `WITHOUT ROWID`: its rows are narrow (two
 * integers, a feed name, three times), so the primary key's B-tree holds the rows themselves
 * instead of a key index beside a rowid table.
 */
async function createListingTable(db: Knex, prefix: string, shape: ListingShape, indexes: boolean): Promise<void> {
  const name = `${prefix}indicator_feeds`;
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
    if (indexes && shape === "0004_ioc") table.index(["kind", "value"], `${prefix}indicator_feeds_kind_value`);
    if (indexes) table.index(["feed", "last_seen"], `${prefix}indicator_feeds_feed_seen`);
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
 * expiry index is built after the copy.
 */
async function rebuildListingTable(db: Knex, prefix: string, shape: ListingShape, copy: (from: string) => Knex.Raw): Promise<void> {
  const name = `${prefix}indicator_feeds`;
  const aside = `${prefix}indicator_feeds_rebuild`;
  await db.schema.renameTable(name, aside);
  if (dialectOf(db) === "postgres") await db.raw("alter table ?? rename constraint ?? to ??", [aside, `${name}_pkey`, `${aside}_pkey`]);
  await db.schema.alterTable(aside, (table) => table.dropIndex(["feed", "last_seen"], `${prefix}indicator_feeds_feed_seen`));
  await createListingTable(db, prefix, shape, false);
  await copy(aside);
  await db.schema.dropTable(aside);
  await db.schema.alterTable(name, (table) => table.index(["feed", "last_seen"], `${prefix}indicator_feeds_feed_seen`));
}

/** The ioc-ingest task's tables: feed state, indicators, and which feed lists which indicator since when. */
const iocFeedsAndIndicators: UpkeepMigration = {
  name: "0004_ioc",
  async up(db, prefix) {
    const ascii = asciiColumn(db);
    await db.schema.createTable(`${prefix}feeds`, (table) => {
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
    await db.schema.createTable(`${prefix}indicators`, (table) => {
      table.bigIncrements("id").primary();
      table.string("kind", 8).notNullable();
      ascii(table.string("value", 1024)).notNullable();
      table.text("feeds").notNullable();
      table.integer("confidence").notNullable();
      timeColumn(table, "first_seen").notNullable();
      timeColumn(table, "last_seen").notNullable();
      table.unique(["kind", "value"], { indexName: `${prefix}indicators_kind_value` });
    });
    await createListingTable(db, prefix, "0004_ioc", true);
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
    await db.schema.alterTable(`${prefix}indicator_feeds`, (table) => {
      table.dropIndex(["kind", "value"], `${prefix}indicator_feeds_kind_value`);
      table.dropPrimary();
    });
    await db.schema.alterTable(`${prefix}indicator_feeds`, (table) => {
      table.primary([...LISTING_KEYS["0005_ioc_listing_key"]]);
    });
  },
  async down(db, prefix) {
    await db.schema.alterTable(`${prefix}indicator_feeds`, (table) => {
      table.dropPrimary();
    });
    await db.schema.alterTable(`${prefix}indicator_feeds`, (table) => {
      table.primary([...LISTING_KEYS["0004_ioc"]]);
      table.index(["kind", "value"], `${prefix}indicator_feeds_kind_value`);
    });
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
    await db.schema.alterTable(`${prefix}runs`, (table) => {
      table.index(["status", "lease_until"], `${prefix}runs_status_lease`);
    });
  },
  async down(db, prefix) {
    await db.schema.alterTable(`${prefix}runs`, (table) => {
      table.dropIndex(["status", "lease_until"], `${prefix}runs_status_lease`);
    });
  },
};

/** Every migration, in order. Tasks that own tables add theirs here. */
export const MIGRATIONS: readonly UpkeepMigration[] = [
  runs,
  keys,
  models,
  iocFeedsAndIndicators,
  iocListingKey,
  iocListingById,
  runsLeaseIndex,
];

/** Applies every pending migration, recorded in upkeep's own `<prefix>migrations` table. */
export async function migrate(db: Knex, prefix: string, migrations: readonly UpkeepMigration[] = MIGRATIONS): Promise<string[]> {
  const source: Knex.MigrationSource<UpkeepMigration> = {
    getMigrations: async () => [...migrations],
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => ({
      up: (knex: Knex) => migration.up(knex, prefix),
      down: (knex: Knex) => migration.down(knex, prefix),
    }),
  };
  const [, applied] = (await db.migrate.latest({ migrationSource: source, tableName: `${prefix}migrations` })) as [number, string[]];
  return applied;
}

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

/** The ioc-ingest task's tables: feed state, indicators, and which feed lists which indicator since when. */
const iocFeedsAndIndicators: UpkeepMigration = {
  name: "0004_ioc",
  async up(db, prefix) {
    // MySQL/MariaDB: values are ASCII after normalisation; ascii_bin keeps the unique key short and case-sensitive.
    const ascii = (column: Knex.ColumnBuilder) => (dialectOf(db) === "mysql" ? column.collate("ascii_bin") : column);
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
    await db.schema.createTable(`${prefix}indicator_feeds`, (table) => {
      ascii(table.string("feed", 64)).notNullable();
      table.string("kind", 8).notNullable();
      ascii(table.string("value", 1024)).notNullable();
      table.integer("confidence").notNullable();
      timeColumn(table, "first_seen").notNullable();
      timeColumn(table, "last_seen").notNullable();
      timeColumn(table, "valid_until");
      table.primary(["feed", "kind", "value"]);
      table.index(["kind", "value"], `${prefix}indicator_feeds_kind_value`);
      table.index(["feed", "last_seen"], `${prefix}indicator_feeds_feed_seen`);
    });
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
      table.primary(["kind", "value", "feed"]);
    });
  },
  async down(db, prefix) {
    await db.schema.alterTable(`${prefix}indicator_feeds`, (table) => {
      table.dropPrimary();
    });
    await db.schema.alterTable(`${prefix}indicator_feeds`, (table) => {
      table.primary(["feed", "kind", "value"]);
      table.index(["kind", "value"], `${prefix}indicator_feeds_kind_value`);
    });
  },
};

/** Every migration, in order. Tasks that own tables add theirs here. */
export const MIGRATIONS: readonly UpkeepMigration[] = [runs, keys, models, iocFeedsAndIndicators, iocListingKey];

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

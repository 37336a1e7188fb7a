import type { Knex } from "knex";
import { dialectOf, doubleQuote } from "../db.ts";

// Schema steps that check before they change, so a migration can run again after it stopped
// half-way. MySQL/MariaDB commit every DDL statement on its own: a process killed inside a
// migration leaves the statements before the kill applied and the migration unrecorded, and the
// next migrate() runs it again from the top. (PostgreSQL and SQLite run a migration in one
// transaction; the checks cost them a few catalog reads.)

type Row = Record<string, unknown>;

/** PostgreSQL: whether a table or index of that name resolves (search_path, or `schema.name`). */
async function relationExists(db: Knex, name: string): Promise<boolean> {
  const { rows } = (await db.raw("select to_regclass(?) is not null as present", [doubleQuote(name)])) as { rows: Row[] };
  return rows[0]?.present === true;
}

const count = (rows: unknown): number => Number((rows as Row[])[0]?.n ?? 0);

/** Whether the table exists. */
export async function tableExists(db: Knex, table: string): Promise<boolean> {
  return dialectOf(db) === "postgres" ? relationExists(db, table) : db.schema.hasTable(table);
}

/** Whether the table has a row. */
export async function hasRows(db: Knex, table: string): Promise<boolean> {
  return (await db(table).first(db.raw("1 as present"))) !== undefined;
}

/** Whether the index (or unique constraint) exists on the table. */
export async function indexExists(db: Knex, table: string, index: string): Promise<boolean> {
  switch (dialectOf(db)) {
    case "postgres":
      return relationExists(db, index);
    case "mysql": {
      const [rows] = (await db.raw(
        "select count(*) as n from information_schema.statistics where table_schema = database() and table_name = ? and index_name = ?",
        [table, index],
      )) as [Row[]];
      return count(rows) > 0;
    }
    case "sqlite":
      return count(await db.raw("select count(*) as n from sqlite_master where type = 'index' and name = ?", [index])) > 0;
  }
}

/** The table's primary key columns in key order; empty when it has none. */
export async function primaryKeyColumns(db: Knex, table: string): Promise<string[]> {
  switch (dialectOf(db)) {
    case "postgres": {
      const { rows } = (await db.raw(
        `select a.attname as name from pg_index i
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
          where i.indrelid = to_regclass(?) and i.indisprimary
          order by array_position(i.indkey::int2[], a.attnum)`,
        [doubleQuote(table)],
      )) as { rows: Row[] };
      return rows.map((row) => String(row.name));
    }
    case "mysql": {
      const [rows] = (await db.raw(
        `select column_name as name from information_schema.statistics
          where table_schema = database() and table_name = ? and index_name = 'PRIMARY' order by seq_in_index`,
        [table],
      )) as [Row[]];
      return rows.map((row) => String(row.name ?? row.NAME));
    }
    case "sqlite": {
      const rows = (await db.raw("select name from pragma_table_info(?) where pk > 0 order by pk", [table])) as Row[];
      return rows.map((row) => String(row.name));
    }
  }
}

/** Creates the table unless it exists; returns whether it did. Indexes go in `addIndexIfMissing` steps. */
export async function createTableIfMissing(db: Knex, table: string, build: (table: Knex.CreateTableBuilder) => void): Promise<boolean> {
  if (await tableExists(db, table)) return false;
  await db.schema.createTable(table, build);
  return true;
}

/** Adds the column unless the table has it. */
export async function addColumnIfMissing(
  db: Knex,
  table: string,
  column: string,
  add: (table: Knex.AlterTableBuilder) => void,
): Promise<void> {
  if (await db.schema.hasColumn(table, column)) return;
  await db.schema.alterTable(table, add);
}

/** Adds an index (a unique constraint with `unique`) over the columns unless one of that name exists. */
export async function addIndexIfMissing(
  db: Knex,
  table: string,
  columns: readonly string[],
  index: string,
  options: { unique?: boolean } = {},
): Promise<void> {
  if (await indexExists(db, table, index)) return;
  await db.schema.alterTable(table, (builder) => {
    if (options.unique) builder.unique([...columns], { indexName: index });
    else builder.index([...columns], index);
  });
}

/** Drops the index unless it is already gone. */
export async function dropIndexIfPresent(db: Knex, table: string, columns: readonly string[], index: string): Promise<void> {
  if (!(await indexExists(db, table, index))) return;
  await db.schema.alterTable(table, (builder) => builder.dropIndex([...columns], index));
}

/** Makes the columns the table's primary key, unless they already are. */
export async function setPrimaryKey(db: Knex, table: string, columns: readonly string[]): Promise<void> {
  const current = await primaryKeyColumns(db, table);
  if (current.length === columns.length && current.every((column, index) => column === columns[index])) return;
  if (dialectOf(db) === "mysql") {
    // One statement, so no commit can fall between dropping the old key and adding the new one.
    const drop = current.length > 0 ? "drop primary key, " : "";
    await db.raw(`alter table ?? ${drop}add primary key (${columns.map(() => "??").join(", ")})`, [table, ...columns]);
    return;
  }
  if (current.length > 0) await db.schema.alterTable(table, (builder) => builder.dropPrimary());
  await db.schema.alterTable(table, (builder) => builder.primary([...columns]));
}

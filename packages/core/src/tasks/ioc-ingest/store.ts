import type { Knex } from "knex";
import { dialectOf, type SqlDialect } from "../../db.ts";
import type { IndicatorRow } from "./match-index.ts";
import type { IndicatorKind } from "./normalise.ts";

/** The three ioc tables under a prefix. */
export interface IocTables {
  feeds: string;
  indicators: string;
  sightings: string;
}

export function iocTables(prefix: string): IocTables {
  return { feeds: `${prefix}feeds`, indicators: `${prefix}indicators`, sightings: `${prefix}indicator_feeds` };
}

/** One indicator a feed listed in this fetch. */
export interface Listed {
  kind: IndicatorKind;
  value: string;
  /** Epoch ms after which the feed says it is no longer valid (STIX `valid_until`). */
  validUntil: number | null;
}

/** The stored state of one feed. */
export interface FeedState {
  name: string;
  format: string;
  status: FeedStatus;
  etag: string | null;
  lastModified: string | null;
  cursor: string | null;
  ttlMs: number;
  incremental: boolean;
  /** Indicators listed by the last good fetch. */
  listed: number;
  version: number;
  checkedAt: number | null;
  fetchedAt: number | null;
  changedAt: number | null;
  error: string | null;
}

/** How the last check of a feed ended. */
export type FeedStatus = "ok" | "not_modified" | "failed" | "shrunk";

type Row = Record<string, unknown>;
const num = (value: unknown): number => (typeof value === "number" ? value : Number(value));
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : num(value));
const strOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

function toFeedState(row: Row): FeedState {
  return {
    name: String(row.name),
    format: String(row.format),
    status: row.status as FeedStatus,
    etag: strOrNull(row.etag),
    lastModified: strOrNull(row.last_modified),
    cursor: strOrNull(row.cursor),
    ttlMs: num(row.ttl_ms),
    incremental: Boolean(row.incremental),
    listed: num(row.listed),
    version: num(row.version),
    checkedAt: numOrNull(row.checked_at),
    fetchedAt: numOrNull(row.fetched_at),
    changedAt: numOrNull(row.changed_at),
    error: strOrNull(row.error),
  };
}

export async function loadFeedStates(db: Knex, tables: IocTables): Promise<Map<string, FeedState>> {
  const rows = (await db(tables.feeds).select("*")) as Row[];
  return new Map(rows.map((row) => [String(row.name), toFeedState(row)]));
}

/** Inserts or replaces a feed's state row. */
export async function saveFeedState(db: Knex, tables: IocTables, state: FeedState): Promise<void> {
  const row = {
    name: state.name,
    format: state.format,
    status: state.status,
    etag: state.etag,
    last_modified: state.lastModified,
    cursor: state.cursor,
    ttl_ms: state.ttlMs,
    incremental: state.incremental,
    listed: state.listed,
    version: state.version,
    checked_at: state.checkedAt,
    fetched_at: state.fetchedAt,
    changed_at: state.changedAt,
    error: state.error,
  };
  await db(tables.feeds).insert(row).onConflict("name").merge();
}

export async function deleteFeedState(db: Knex, tables: IocTables, name: string): Promise<void> {
  await db(tables.feeds).where({ name }).delete();
}

/**
 * A cheap stamp that changes whenever any feed's indicators change: one small query on the feeds
 * table, so matchers in other processes can poll it.
 */
export async function versionStamp(db: Knex, tables: IocTables): Promise<string> {
  const row = (await db(tables.feeds)
    .select(db.raw("count(*) as n"), db.raw("sum(version) as v"), db.raw("max(changed_at) as c"))
    .first()) as Row | undefined;
  return `${num(row?.n ?? 0)}:${num(row?.v ?? 0)}:${num(row?.c ?? 0)}`;
}

/** The two statements that write one batch: the indicators, then their listings. */
interface UpsertSql {
  indicators: string;
  sightings: string;
}

/** PostgreSQL: the whole batch in one statement, the upsert's `RETURNING` feeding the listing insert. */
function postgresUpsertSql(tables: IocTables): string {
  const { indicators: t, sightings: s } = tables;
  return `with u as (
          select * from unnest(?::varchar[], ?::varchar[], ?::bigint[]) as u(kind, value, valid_until)
        ), i as (
          insert into "${t}" as t (kind, value, feeds, confidence, first_seen, last_seen)
          select u.kind, u.value, ?, ?::int, ?::bigint, ?::bigint from u
          on conflict (kind, value) do update set
            last_seen = greatest(t.last_seen, excluded.last_seen),
            confidence = greatest(t.confidence, excluded.confidence),
            feeds = case when position(',' || excluded.feeds || ',' in ',' || t.feeds || ',') > 0 then t.feeds else t.feeds || ',' || excluded.feeds end
          returning id, kind, value
        )
        insert into "${s}" as s (indicator_id, feed, confidence, first_seen, last_seen, valid_until)
        select i.id, ?, ?::int, ?::bigint, ?::bigint, u.valid_until from i join u on u.kind = i.kind and u.value = i.value
        on conflict (indicator_id, feed) do update set
          last_seen = excluded.last_seen, valid_until = excluded.valid_until, confidence = excluded.confidence`;
}

/** MySQL/MariaDB and SQLite: the indicators, then their listings, in two statements. */
function upsertSql(dialect: "mysql" | "sqlite", tables: IocTables, rows: number): UpsertSql {
  const { indicators: t, sightings: s } = tables;
  if (dialect === "mysql") {
    const tuples = (width: number) => Array.from({ length: rows }, () => `(${Array(width).fill("?").join(", ")})`).join(", ");
    return {
      indicators: `insert into \`${t}\` (kind, value, feeds, confidence, first_seen, last_seen) values ${tuples(6)}
        on duplicate key update
          feeds = if(find_in_set(values(feeds), feeds) > 0, feeds, concat(feeds, ',', values(feeds))),
          confidence = greatest(confidence, values(confidence)),
          last_seen = greatest(last_seen, values(last_seen))`,
      sightings: `insert into \`${s}\` (indicator_id, feed, confidence, first_seen, last_seen, valid_until) values ${tuples(6)}
        on duplicate key update last_seen = values(last_seen), valid_until = values(valid_until), confidence = values(confidence)`,
    };
  }
  // SQLite: the batch arrives as one JSON array bound once (json_each plays unnest's part), so the
  // statement text stays the same for every batch and binds 5 parameters, not 6 or 7 per row.
  // `where true` keeps the parser from reading ON CONFLICT as a join constraint. The listing insert
  // finds each id through the (kind, value) index the upsert has just walked.
  return {
    indicators: `insert into "${t}" (kind, value, feeds, confidence, first_seen, last_seen)
      select json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), ?, ?, ?, ? from json_each(?) as j where true
      on conflict (kind, value) do update set
        feeds = case when instr(',' || "${t}".feeds || ',', ',' || excluded.feeds || ',') > 0 then "${t}".feeds else "${t}".feeds || ',' || excluded.feeds end,
        confidence = max("${t}".confidence, excluded.confidence),
        last_seen = max("${t}".last_seen, excluded.last_seen)`,
    sightings: `insert into "${s}" (indicator_id, feed, confidence, first_seen, last_seen, valid_until)
      select i.id, ?, ?, ?, ?, json_extract(j.value, '$[2]') from json_each(?) as j
        join "${t}" as i on i.kind = json_extract(j.value, '$[0]') and i.value = json_extract(j.value, '$[1]') where true
      on conflict (indicator_id, feed) do update set
        last_seen = excluded.last_seen, valid_until = excluded.valid_until, confidence = excluded.confidence`,
  };
}

/** Rows per statement each dialect takes comfortably (PostgreSQL and SQLite bind a batch as arrays / one JSON text). */
export const MAX_BATCH: Record<SqlDialect, number> = { postgres: 10_000, mysql: 2_000, sqlite: 10_000 };

type FeedRef = { name: string; confidence: number };

/**
 * Upserts one batch of a feed's indicators in one short transaction: the indicator rows (first and
 * last seen, the feed added to its list, the higher confidence) and the feed's own listing rows.
 * Keys must be unique within the batch. The listing table refers to the indicator by id
 * (`indicator_id`, from migration 0006), so each dialect learns the ids of the rows it upserted:
 * PostgreSQL in the same statement, SQLite by joining the batch against the indicators just
 * written, MySQL/MariaDB by reading them back.
 */
export async function writeBatch(db: Knex, tables: IocTables, feed: FeedRef, batch: readonly Listed[], at: number): Promise<void> {
  if (batch.length === 0) return;
  const dialect = dialectOf(db);
  const chunk = MAX_BATCH[dialect];
  const write = dialect === "postgres" ? writePostgres : dialect === "sqlite" ? writeSqlite : writeMysql;
  await db.transaction(async (trx) => {
    for (let start = 0; start < batch.length; start += chunk) await write(trx, tables, feed, batch.slice(start, start + chunk), at);
  });
}

type ChunkWriter = (trx: Knex.Transaction, tables: IocTables, feed: FeedRef, rows: readonly Listed[], at: number) => Promise<void>;

const writePostgres: ChunkWriter = async (trx, tables, feed, rows, at) => {
  const kinds = rows.map((row) => row.kind);
  const values = rows.map((row) => row.value);
  const validUntil = rows.map((row) => row.validUntil) as unknown as Knex.RawBinding;
  const { name, confidence } = feed;
  await trx.raw(postgresUpsertSql(tables), [kinds, values, validUntil, name, confidence, at, at, name, confidence, at, at]);
};

const writeSqlite: ChunkWriter = async (trx, tables, feed, rows, at) => {
  const sql = upsertSql("sqlite", tables, rows.length);
  const sorted = [...rows].sort((a, b) =>
    a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0,
  );
  const json = JSON.stringify(sorted.map((row) => [row.kind, row.value, row.validUntil]));
  await trx.raw(sql.indicators, [feed.name, feed.confidence, at, at, json]);
  await trx.raw(sql.sightings, [feed.name, feed.confidence, at, at, json]);
};

const writeMysql: ChunkWriter = async (trx, tables, feed, rows, at) => {
  const sql = upsertSql("mysql", tables, rows.length);
  await trx.raw(
    sql.indicators,
    rows.flatMap((row) => [row.kind, row.value, feed.name, feed.confidence, at, at]),
  );
  const ids = await indicatorIds(trx, tables, rows);
  const sightings: Knex.RawBinding[] = [];
  for (const row of rows) {
    const id = ids.get(`${row.kind}\u0000${row.value}`);
    if (id === undefined) throw new Error(`[upkeep] indicator ${row.kind} ${row.value} vanished while its batch was written`);
    sightings.push(id, feed.name, feed.confidence, at, at, row.validUntil);
  }
  await trx.raw(sql.sightings, sightings);
};

/** The ids of the given indicators, keyed `kind NUL value`. */
async function indicatorIds(db: Knex, tables: IocTables, keys: readonly { kind: string; value: string }[]): Promise<Map<string, number>> {
  const found = (await db(tables.indicators)
    .whereIn(
      ["kind", "value"],
      keys.map((key) => [key.kind, key.value]),
    )
    .select("id", "kind", "value")) as Row[];
  return new Map(found.map((row) => [`${row.kind}\u0000${row.value}`, num(row.id)]));
}

/** Which listing rows of a feed have expired. */
export interface ExpiryRule {
  feed: string;
  now: number;
  ttlMs: number;
  /**
   * Rows seen at or after this time are still in the feed's current content and never expire by
   * age (a full list checked with a 304 still lists them). Undefined for incremental feeds and
   * feeds no longer configured.
   */
  listedSince?: number;
}

function expiredQuery(db: Knex, tables: IocTables, rule: ExpiryRule): Knex.QueryBuilder {
  const cutoff = rule.now - rule.ttlMs;
  return db(tables.sightings)
    .where("feed", rule.feed)
    .andWhere((q) => {
      q.where((old) => {
        old.where("last_seen", "<=", cutoff);
        if (rule.listedSince !== undefined) old.andWhere("last_seen", "<", rule.listedSince);
      }).orWhere((until) => until.whereNotNull("valid_until").andWhere("valid_until", "<=", rule.now));
    });
}

/** How many listing rows of a feed have expired (for dry runs). */
export async function countExpired(db: Knex, tables: IocTables, rule: ExpiryRule): Promise<number> {
  const row = (await expiredQuery(db, tables, rule).count({ n: "*" }).first()) as Row | undefined;
  return num(row?.n ?? 0);
}

/** How many indicators a feed still lists. */
export async function countListings(db: Knex, tables: IocTables, feed: string): Promise<number> {
  const row = (await db(tables.sightings).where({ feed }).count({ n: "*" }).first()) as Row | undefined;
  return num(row?.n ?? 0);
}

/**
 * Deletes up to `limit` expired listing rows of a feed and brings the indicators they belonged to
 * up to date (removed when no feed lists them any more), in one transaction. Returns how many
 * listing rows and indicators went.
 */
export async function expireBatch(
  db: Knex,
  tables: IocTables,
  rule: ExpiryRule,
  limit: number,
): Promise<{ rows: number; removed: number }> {
  return db.transaction(async (trx) => {
    const picked = (await expiredQuery(trx, tables, rule).select("indicator_id").limit(limit)) as Row[];
    if (picked.length === 0) return { rows: 0, removed: 0 };
    const ids = picked.map((row) => num(row.indicator_id));
    await trx(tables.sightings).where("feed", rule.feed).whereIn("indicator_id", ids).delete();
    const removed = await refreshIndicators(trx, tables, ids);
    return { rows: picked.length, removed };
  });
}

/** Recomputes feeds, confidence and last seen of indicators from their listing rows; deletes orphans. */
async function refreshIndicators(trx: Knex, tables: IocTables, ids: number[]): Promise<number> {
  const rest = (await trx(tables.sightings)
    .whereIn("indicator_id", ids)
    .select("indicator_id", "feed", "confidence", "last_seen")
    .orderBy("feed")) as Row[];
  const live = new Map<number, { feeds: string[]; confidence: number; lastSeen: number }>();
  for (const row of rest) {
    const id = num(row.indicator_id);
    const entry = live.get(id) ?? { feeds: [], confidence: 0, lastSeen: 0 };
    entry.feeds.push(String(row.feed));
    entry.confidence = Math.max(entry.confidence, num(row.confidence));
    entry.lastSeen = Math.max(entry.lastSeen, num(row.last_seen));
    live.set(id, entry);
  }
  const orphans = ids.filter((id) => !live.has(id));
  if (orphans.length > 0) await trx(tables.indicators).whereIn("id", orphans).delete();
  for (const [id, entry] of live) {
    await trx(tables.indicators)
      .where({ id })
      .update({ feeds: entry.feeds.join(","), confidence: entry.confidence, last_seen: entry.lastSeen });
  }
  return orphans.length;
}

/** Pages through every stored indicator by id, `pageSize` rows at a time. */
export async function* readIndicators(db: Knex, tables: IocTables, pageSize = 50_000): AsyncGenerator<IndicatorRow[]> {
  let after = 0;
  for (;;) {
    const rows = (await db(tables.indicators)
      .where("id", ">", after)
      .orderBy("id")
      .limit(pageSize)
      .select("id", "kind", "value", "feeds", "confidence", "first_seen", "last_seen")) as Row[];
    if (rows.length === 0) return;
    after = num(rows[rows.length - 1]?.id);
    yield rows.map((row) => ({
      kind: row.kind as IndicatorKind,
      value: String(row.value),
      feeds: String(row.feeds).split(",").filter(Boolean),
      confidence: num(row.confidence),
      firstSeen: num(row.first_seen),
      lastSeen: num(row.last_seen),
    }));
    if (rows.length < pageSize) return;
  }
}

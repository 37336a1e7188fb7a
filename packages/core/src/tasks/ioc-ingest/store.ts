import type { Knex } from "knex";
import { dialectOf, type SqlDialect } from "../../db.ts";
import type { IndicatorRow } from "./match-index.ts";
import type { IndicatorKind } from "./normalise.ts";

/** The three ioc tables under a prefix. */
export interface IocTables {
  feeds: string;
  indicators: string;
  sightings: string;
  /** A feed's download until it is applied (migration 0010). */
  staging: string;
}

export function iocTables(prefix: string): IocTables {
  return {
    feeds: `${prefix}feeds`,
    indicators: `${prefix}indicators`,
    sightings: `${prefix}indicator_feeds`,
    staging: `${prefix}indicator_staging`,
  };
}

/** One indicator a feed listed in this fetch. */
export interface Listed {
  kind: IndicatorKind;
  value: string;
  /** Epoch ms after which the feed says it is no longer valid (STIX `valid_until`). */
  validUntil: number | null;
  /** The feed withdrew it (STIX `revoked`, or `valid_until` passed): its listing goes at once. */
  withdrawn: boolean;
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

/** Rows per statement each dialect takes comfortably (PostgreSQL and SQLite bind a batch as arrays / one JSON text). */
export const MAX_BATCH: Record<SqlDialect, number> = { postgres: 10_000, mysql: 2_000, sqlite: 10_000 };

/**
 * When one download names an indicator twice, a listing beats a withdrawal and the first
 * listing's `valid_until` stands. The same rule as `Collector` applies within a batch.
 */
function stageSql(dialect: SqlDialect, st: string, rows: number): string {
  if (dialect === "postgres") {
    return `insert into "${st}" as st (feed, kind, value, valid_until, withdrawn)
      select ?, u.kind, u.value, u.valid_until, u.withdrawn
        from unnest(?::varchar[], ?::varchar[], ?::bigint[], ?::boolean[]) as u(kind, value, valid_until, withdrawn)
      on conflict (feed, kind, value) do update set
        valid_until = case when st.withdrawn then excluded.valid_until else st.valid_until end,
        withdrawn = st.withdrawn and excluded.withdrawn`;
  }
  if (dialect === "mysql") {
    // Assignments run left to right: valid_until reads the row's withdrawn flag before it changes.
    return `insert into \`${st}\` (feed, kind, value, valid_until, withdrawn) values ${Array(rows).fill("(?, ?, ?, ?, ?)").join(", ")}
      on duplicate key update
        valid_until = if(withdrawn, values(valid_until), valid_until),
        withdrawn = withdrawn and values(withdrawn)`;
  }
  // SQLite: the batch arrives as one JSON array bound once (json_each plays unnest's part); `where
  // true` keeps the parser from reading ON CONFLICT as a join constraint.
  return `insert into "${st}" (feed, kind, value, valid_until, withdrawn)
    select ?, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]')
      from json_each(?) as j where true
    on conflict (feed, kind, value) do update set
      valid_until = case when "${st}".withdrawn then excluded.valid_until else "${st}".valid_until end,
      withdrawn = "${st}".withdrawn and excluded.withdrawn`;
}

/** Stages one batch of a feed's download (see `applyStaged`). Keys must be unique within the batch. */
export async function stageBatch(db: Knex, tables: IocTables, feed: string, batch: readonly Listed[]): Promise<void> {
  const dialect = dialectOf(db);
  const chunk = MAX_BATCH[dialect];
  for (let start = 0; start < batch.length; start += chunk) {
    const rows = batch.slice(start, start + chunk);
    const sql = stageSql(dialect, tables.staging, rows.length);
    if (dialect === "postgres") {
      await db.raw(sql, [
        feed,
        rows.map((row) => row.kind),
        rows.map((row) => row.value),
        rows.map((row) => row.validUntil) as unknown as Knex.RawBinding,
        rows.map((row) => row.withdrawn),
      ]);
    } else if (dialect === "mysql") {
      await db.raw(
        sql,
        rows.flatMap((row) => [feed, row.kind, row.value, row.validUntil, row.withdrawn]),
      );
    } else {
      await db.raw(sql, [feed, JSON.stringify(rows.map((row) => [row.kind, row.value, row.validUntil, row.withdrawn ? 1 : 0]))]);
    }
  }
}

/** Drops whatever a feed has staged (a finished, failed or crashed download). */
export async function clearStaging(db: Knex, tables: IocTables, feed: string): Promise<void> {
  await db(tables.staging).where({ feed }).delete();
}

/** Distinct indicators a feed's staged download lists and withdraws. */
export async function stagedCounts(db: Knex, tables: IocTables, feed: string): Promise<{ listed: number; withdrawn: number }> {
  const rows = (await db(tables.staging).where({ feed }).groupBy("withdrawn").select("withdrawn", db.raw("count(*) as n"))) as Row[];
  const counts = { listed: 0, withdrawn: 0 };
  for (const row of rows) counts[num(row.withdrawn) ? "withdrawn" : "listed"] += num(row.n);
  return counts;
}

type FeedRef = { name: string; confidence: number };

/** The statements that apply a staged download: indicators first, then the feed's listings of them. */
function applySql(dialect: SqlDialect, tables: IocTables, feed: FeedRef, at: number): Array<[string, Knex.RawBinding[]]> {
  const { indicators: t, sightings: s, staging: st } = tables;
  const { name, confidence } = feed;
  const row = [name, confidence, at, at, name];
  if (dialect === "postgres") {
    return [
      [
        `with i as (
          insert into "${t}" as t (kind, value, feeds, confidence, first_seen, last_seen)
          select st.kind, st.value, ?, ?::int, ?::bigint, ?::bigint from "${st}" st
            where st.feed = ? and not st.withdrawn order by st.kind, st.value
          on conflict (kind, value) do update set
            last_seen = greatest(t.last_seen, excluded.last_seen),
            confidence = greatest(t.confidence, excluded.confidence),
            feeds = case when position(',' || excluded.feeds || ',' in ',' || t.feeds || ',') > 0 then t.feeds else t.feeds || ',' || excluded.feeds end
          returning id, kind, value
        )
        insert into "${s}" as s (indicator_id, feed, confidence, first_seen, last_seen, valid_until)
        select i.id, ?, ?::int, ?::bigint, ?::bigint, st.valid_until
          from i join "${st}" st on st.feed = ? and st.kind = i.kind and st.value = i.value
        on conflict (indicator_id, feed) do update set
          last_seen = excluded.last_seen, valid_until = excluded.valid_until, confidence = excluded.confidence`,
        [...row, ...row],
      ],
    ];
  }
  if (dialect === "mysql") {
    return [
      [
        `insert into \`${t}\` (kind, value, feeds, confidence, first_seen, last_seen)
        select st.kind, st.value, ?, ?, ?, ? from \`${st}\` st
          where st.feed = ? and not st.withdrawn order by st.kind, st.value
        on duplicate key update
          feeds = if(find_in_set(values(feeds), feeds) > 0, feeds, concat(feeds, ',', values(feeds))),
          confidence = greatest(confidence, values(confidence)),
          last_seen = greatest(last_seen, values(last_seen))`,
        row,
      ],
      [
        `insert into \`${s}\` (indicator_id, feed, confidence, first_seen, last_seen, valid_until)
        select i.id, ?, ?, ?, ?, st.valid_until from \`${st}\` st
          join \`${t}\` i on i.kind = st.kind and i.value = st.value
          where st.feed = ? and not st.withdrawn order by i.id
        on duplicate key update
          \`${s}\`.last_seen = values(last_seen), \`${s}\`.valid_until = values(valid_until), \`${s}\`.confidence = values(confidence)`,
        row,
      ],
    ];
  }
  return [
    [
      `insert into "${t}" (kind, value, feeds, confidence, first_seen, last_seen)
      select st.kind, st.value, ?, ?, ?, ? from "${st}" st
        where st.feed = ? and not st.withdrawn order by st.kind, st.value
      on conflict (kind, value) do update set
        feeds = case when instr(',' || "${t}".feeds || ',', ',' || excluded.feeds || ',') > 0 then "${t}".feeds else "${t}".feeds || ',' || excluded.feeds end,
        confidence = max("${t}".confidence, excluded.confidence),
        last_seen = max("${t}".last_seen, excluded.last_seen)`,
      row,
    ],
    [
      `insert into "${s}" (indicator_id, feed, confidence, first_seen, last_seen, valid_until)
      select i.id, ?, ?, ?, ?, st.valid_until from "${st}" st
        join "${t}" i on i.kind = st.kind and i.value = st.value
        where st.feed = ? and not st.withdrawn order by i.id
      on conflict (indicator_id, feed) do update set
        last_seen = excluded.last_seen, valid_until = excluded.valid_until, confidence = excluded.confidence`,
      row,
    ],
  ];
}

/**
 * Applies a feed's staged download inside `trx`: upserts the indicators it lists (first and last
 * seen, the feed added to their list, the higher confidence) and the feed's listing rows, then
 * removes the feed's listings of the indicators it withdrew (an indicator no feed lists any more
 * goes). The caller commits this together with the feed's state, so readers see the whole
 * download or none of it. The listing table refers to the indicator by id (`indicator_id`, from
 * migration 0006), found by joining the staged rows against the indicators just written.
 */
export async function applyStaged(
  trx: Knex,
  tables: IocTables,
  feed: FeedRef,
  at: number,
): Promise<{ listings: number; indicators: number }> {
  for (const [sql, bindings] of applySql(dialectOf(trx), tables, feed, at)) await trx.raw(sql, bindings);
  const withdrawn = (await trx(`${tables.staging} as st`)
    .join(`${tables.indicators} as i`, (on) => on.on("i.kind", "st.kind").andOn("i.value", "st.value"))
    .join(`${tables.sightings} as s`, (on) => on.on("s.indicator_id", "i.id").andOnVal("s.feed", feed.name))
    .where("st.feed", feed.name)
    .andWhere("st.withdrawn", true)
    .pluck("i.id")) as unknown[];
  const gone = { listings: 0, indicators: 0 };
  const chunk = MAX_BATCH[dialectOf(trx)];
  for (let start = 0; start < withdrawn.length; start += chunk) {
    const ids = withdrawn.slice(start, start + chunk).map(num);
    gone.listings += await trx(tables.sightings).where("feed", feed.name).whereIn("indicator_id", ids).delete();
    gone.indicators += await refreshIndicators(trx, tables, ids);
  }
  await clearStaging(trx, tables, feed.name);
  return gone;
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
  /** Only rows past their `valid_until` (a held feed: its listing stays, but never past what the feed said). */
  validUntilOnly?: boolean;
}

function expiredQuery(db: Knex, tables: IocTables, rule: ExpiryRule): Knex.QueryBuilder {
  const cutoff = rule.now - rule.ttlMs;
  const lapsed = (q: Knex.QueryBuilder) => q.whereNotNull("valid_until").andWhere("valid_until", "<=", rule.now);
  if (rule.validUntilOnly) return db(tables.sightings).where("feed", rule.feed).andWhere(lapsed);
  return db(tables.sightings)
    .where("feed", rule.feed)
    .andWhere((q) => {
      q.where((old) => {
        old.where("last_seen", "<=", cutoff);
        if (rule.listedSince !== undefined) old.andWhere("last_seen", "<", rule.listedSince);
      }).orWhere(lapsed);
    });
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

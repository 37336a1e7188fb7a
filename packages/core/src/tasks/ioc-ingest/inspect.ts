import type { Knex } from "knex";
import { loadMatchIndex } from "./matcher.ts";
import { type Indicator, normalise } from "./normalise.ts";
import { type FeedStatus, iocTables, loadFeedStates } from "./store.ts";

/** What `upkeep ioc check <value>` reports. */
export interface IocCheckResult {
  /** The value as normalised, or undefined when it is no indicator at all. */
  normalised: Indicator | undefined;
  /** Whether a live indicator covers it. */
  listed: boolean;
  /** The stored indicator that matched (itself, a covering network or a parent domain). */
  match?: {
    /** The indicator's kind, such as `ipv4`, `domain` or `sha256`. */
    kind: string;
    /** The stored (canonical) indicator. */
    value: string;
    /** 0 to 100: the highest confidence of the feeds that list it. */
    confidence: number;
    /** When a feed first listed it. */
    firstSeen: Date;
    /** When a feed last listed it. */
    lastSeen: Date;
  };
  /** Each feed listing the match, and since when; empty when nothing matched. */
  feeds: Array<{
    /** The feed's name. */
    feed: string;
    /** When this feed first listed it. */
    firstSeen: Date;
    /** When this feed last listed it. */
    lastSeen: Date;
    /** When the feed said the listing stops being valid (such as STIX `valid_until`); null when it gave no end, so only the feed's TTL applies. */
    validUntil: Date | null;
  }>;
}

/** Looks one value up the way the matcher does, and says which feeds list it since when. */
export async function iocCheck(db: Knex, value: string, options: { tablePrefix?: string } = {}): Promise<IocCheckResult> {
  const prefix = options.tablePrefix ?? "upkeep_";
  const normalised = normalise(value);
  const index = await loadMatchIndex(db, prefix);
  const hit = index.match(value);
  if (!hit) return { normalised, listed: false, feeds: [] };
  const tables = iocTables(prefix);
  const rows = (await db(`${tables.sightings} as s`)
    .join(`${tables.indicators} as i`, "i.id", "s.indicator_id")
    .where({ "i.kind": hit.kind, "i.value": hit.value })
    .orderBy("s.feed")
    .select("s.feed", "s.first_seen", "s.last_seen", "s.valid_until")) as Array<Record<string, unknown>>;
  return {
    normalised,
    listed: true,
    match: { kind: hit.kind, value: hit.value, confidence: hit.confidence, firstSeen: hit.firstSeen, lastSeen: hit.lastSeen },
    feeds: rows.map((row) => ({
      feed: String(row.feed),
      firstSeen: new Date(Number(row.first_seen)),
      lastSeen: new Date(Number(row.last_seen)),
      validUntil: row.valid_until === null || row.valid_until === undefined ? null : new Date(Number(row.valid_until)),
    })),
  };
}

/** What `upkeep ioc stats` reports. */
export interface IocStats {
  /** Live indicators per kind. */
  indicators: Record<string, number>;
  /** Live indicators of every kind. */
  total: number;
  /** Each feed the database knows, by name. */
  feeds: Array<{
    /** The feed's name. */
    name: string;
    /** The feed's format, such as `plain` or `csv`. */
    format: string;
    /** How its last check ended. */
    status: FeedStatus;
    /** Indicators it lists now. */
    listing: number;
    /** When it was last checked, whatever the outcome; null before its first check. */
    checkedAt: Date | null;
    /** When its last good fetch was stored; null before the first one. */
    fetchedAt: Date | null;
    /** Why its last check failed or was held; null when it ended well. */
    error: string | null;
  }>;
}

/** Counts of live indicators per kind and the state of each feed. */
export async function iocStats(db: Knex, options: { tablePrefix?: string } = {}): Promise<IocStats> {
  const tables = iocTables(options.tablePrefix ?? "upkeep_");
  const kinds = (await db(tables.indicators).select("kind").count({ n: "*" }).groupBy("kind")) as Array<Record<string, unknown>>;
  const perFeed = (await db(tables.sightings).select("feed").count({ n: "*" }).groupBy("feed")) as Array<Record<string, unknown>>;
  const listing = new Map(perFeed.map((row) => [String(row.feed), Number(row.n)]));
  const indicators: Record<string, number> = {};
  for (const row of kinds) indicators[String(row.kind)] = Number(row.n);
  const states = await loadFeedStates(db, tables);
  const date = (value: number | null) => (value === null ? null : new Date(value));
  return {
    indicators,
    total: Object.values(indicators).reduce((sum, n) => sum + n, 0),
    feeds: [...states.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((state) => ({
        name: state.name,
        format: state.format,
        status: state.status,
        listing: listing.get(state.name) ?? 0,
        checkedAt: date(state.checkedAt),
        fetchedAt: date(state.fetchedAt),
        error: state.error,
      })),
  };
}

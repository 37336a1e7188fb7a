import type { Knex } from "knex";
import { dialectOf } from "../../db.ts";
import { type Duration, parseDuration } from "../../duration.ts";
import { ConfigError, UpkeepError } from "../../errors.ts";
import { createJsonLogger, type Logger } from "../../logger.ts";
import { onIocChange } from "./changes.ts";
import { type IocMatch, type MatchIndex, MatchIndexBuilder, type MatchIndexSize } from "./match-index.ts";
import { type IocTables, iocTables, readIndicators, versionStamp } from "./store.ts";

/** Options of `createMatcher`. */
export interface MatcherOptions {
  /** The host's knex instance holding the indicator tables. */
  db: Knex;
  /**
   * Prefix of upkeep's tables, as in the configuration.
   * @default "upkeep_"
   */
  tablePrefix?: string;
  /**
   * How often to check the version stamp for an ingest by another process; 0 turns polling off
   * (ingests in this process still refresh it at once).
   * @default "30s"
   */
  pollInterval?: Duration;
  /**
   * Where refresh failures are logged.
   * @default JSON lines on stderr at warn
   */
  logger?: Logger;
}

/**
 * An in-memory blocklist over the live indicators, held in typed arrays. Lookups never wait; a miss
 * allocates nothing, a hit at most its match object (recent hits come from a small cache).
 */
export interface Matcher {
  /** The indicator listing `value` (an IP address, a domain or any subdomain, a URL or a hash), or undefined. */
  match(value: string): IocMatch | undefined;
  /** Only IP addresses: the most specific listed network. */
  matchIp(address: string): IocMatch | undefined;
  /** Only domains: the name or its nearest listed parent. */
  matchDomain(domain: string): IocMatch | undefined;
  /** Reloads when the version stamp changed (or always, with `force`); resolves whether it reloaded. */
  refresh(options?: { force?: boolean }): Promise<boolean>;
  /** Indicators held, per family. */
  readonly size: MatchIndexSize;
  /** The version stamp of the loaded set. */
  readonly version: string;
  /** Stops polling and listening for in-process ingests. */
  close(): void;
}

/**
 * Reads the version stamp and every stored indicator from one snapshot (a repeatable-read
 * transaction; SQLite's read transactions are snapshots), so an ingest committing meanwhile is
 * seen whole or not at all, and the stamp names exactly the set read.
 */
async function loadSnapshot(db: Knex, tablePrefix: string): Promise<{ version: string; index: MatchIndex }> {
  const tables = iocTables(tablePrefix);
  const config = dialectOf(db) === "sqlite" ? undefined : { isolationLevel: "repeatable read" as const };
  return db.transaction(async (trx) => {
    const version = await versionStamp(trx, tables);
    // Page by page into typed arrays: no page outlives its turn, so a refresh holds the loaded
    // index, one page and the new index's arrays.
    const builder = new MatchIndexBuilder();
    for await (const page of readIndicators(trx, tables)) for (const row of page) builder.add(row);
    return { version, index: builder.build() };
  }, config);
}

/** A missing table says which command creates it; any other failure is passed on as it came. */
async function explainLoadFailure(db: Knex, tables: IocTables, error: unknown): Promise<unknown> {
  const present = await Promise.all([tables.feeds, tables.indicators].map((table) => db.schema.hasTable(table).catch(() => true)));
  if (present.every(Boolean)) return error;
  return new UpkeepError(
    "STORE_FAILED",
    `ioc matcher: the indicator tables (${tables.feeds}, ${tables.indicators}) do not exist: run \`upkeep migrate\` (or \`await upkeep.migrate()\`) with this table prefix first`,
    { cause: error },
  );
}

/** Loads every stored indicator into a fresh index. */
export async function loadMatchIndex(db: Knex, tablePrefix = "upkeep_"): Promise<MatchIndex> {
  return (await loadSnapshot(db, tablePrefix)).index;
}

/**
 * Loads the live indicators into memory and returns a matcher that refreshes itself: at once after
 * an ingest through the same knex instance, and by polling a cheap version stamp for ingests elsewhere. A refresh
 * builds a new index and swaps it in with one assignment, so a lookup sees the old set or the new
 * one, never half of each.
 *
 * @throws {UpkeepError} `STORE_FAILED` when the indicator tables do not exist (run `upkeep migrate`).
 */
export async function createMatcher(options: MatcherOptions): Promise<Matcher> {
  const { db } = options;
  const prefix = options.tablePrefix ?? "upkeep_";
  const pollMs = parseDuration(options.pollInterval ?? "30s");
  if (pollMs === undefined) throw new ConfigError("invalid matcher options", [{ path: "pollInterval", message: "expected a duration" }]);
  const logger = options.logger ?? createJsonLogger({ level: "warn" });
  const tables = iocTables(prefix);

  let { version, index } = await loadSnapshot(db, prefix).catch(async (error: unknown) => {
    throw await explainLoadFailure(db, tables, error);
  });
  let inflight: Promise<boolean> | undefined;

  const refresh = (force = false): Promise<boolean> => {
    inflight ??= (async () => {
      try {
        if (!force && (await versionStamp(db, tables)) === version) return false;
        const next = await loadSnapshot(db, prefix);
        index = next.index;
        version = next.version;
        return true;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
  const background = () => {
    refresh().catch((error: unknown) => logger.warn({ err: error }, "[upkeep] ioc matcher refresh failed; keeping the loaded set"));
  };
  const unsubscribe = onIocChange((changedDb, changedPrefix) => {
    if (changedDb === db && changedPrefix === prefix) background();
  });
  const timer = pollMs > 0 ? setInterval(background, pollMs) : undefined;
  timer?.unref();

  return {
    match: (value) => index.match(value),
    matchIp: (address) => index.matchIp(address),
    matchDomain: (domain) => index.matchDomain(domain),
    refresh: (refreshOptions) => refresh(refreshOptions?.force ?? false),
    get size() {
      return index.size;
    },
    get version() {
      return version;
    },
    close() {
      if (timer) clearInterval(timer);
      unsubscribe();
    },
  };
}

import type { Knex } from "knex";
import { dbFailureHint } from "../../db.ts";
import { TaskError } from "../../errors.ts";
import { defineTask, type TaskContext, type TaskDefinition } from "../../task.ts";
import { Allowlist, BUILTIN_ALLOWLIST } from "./allowlist.ts";
import { notifyIocChange } from "./changes.ts";
import { Collector, type FeedCounts } from "./collector.ts";
import { FeedFetchError } from "./fetch.ts";
import { type FeedInput, type IocIngestInput, type IocIngestOptions, iocIngestSchema } from "./options.ts";
import { readFeed } from "./read-feed.ts";
import {
  countExpired,
  countListings,
  deleteFeedState,
  type ExpiryRule,
  expireBatch,
  type FeedState,
  type IocTables,
  iocTables,
  loadFeedStates,
  saveFeedState,
  writeBatch,
} from "./store.ts";

/** How one feed's check ended in a run. */
export interface FeedReport extends Partial<FeedCounts> {
  name: string;
  /**
   * `updated`: fetched and stored; `not_modified`: a 304 (or an unchanged file); `failed`: could not be
   * read, previous indicators kept; `shrunk`: listed too few compared with its last good fetch,
   * previous indicators kept; `disabled`: not fetched.
   */
  status: "updated" | "not_modified" | "failed" | "shrunk" | "disabled";
  /** Up to `invalidExamples` invalid lines, truncated. */
  invalidExamples?: string[];
  /** Why a feed failed; names no URL query and no header value. */
  error?: string;
}

/** The stored result of an ioc-ingest run. */
export interface IocIngestResult {
  dryRun: boolean;
  feeds: FeedReport[];
  /** Feeds whose previous indicators were kept because they failed or shrank. */
  held: string[];
  /** Listing rows that expired, and indicators no feed lists any more (removed). In a dry run, what would expire. */
  expired: { listings: number; indicators: number };
}

const TERMINAL_DB_ERROR = "the database rejected a write";

interface RunState {
  ctx: TaskContext;
  db: Knex;
  tables: IocTables;
  input: IocIngestInput;
  allowlist: Allowlist;
  now: number;
}

function freshState(feed: FeedInput): FeedState {
  return {
    name: feed.name,
    format: feed.format,
    status: "ok",
    etag: null,
    lastModified: null,
    cursor: null,
    ttlMs: feed.ttl,
    incremental: feed.format === "taxii",
    listed: 0,
    version: 0,
    checkedAt: null,
    fetchedAt: null,
    changedAt: null,
    error: null,
  };
}

async function ingestFeed(
  run: RunState,
  feed: FeedInput,
  previous: FeedState | undefined,
): Promise<{ report: FeedReport; state: FeedState }> {
  const { ctx, db, tables, input, now } = run;
  const base = previous ?? freshState(feed);
  const state: FeedState = { ...base, format: feed.format, ttlMs: feed.ttl, incremental: feed.format === "taxii", checkedAt: now };
  const collector = new Collector({
    allowlist: run.allowlist,
    minPrefixLength: input.minPrefixLength,
    batchSize: input.batchSize,
    exampleLimit: input.invalidExamples,
    keepWithdrawn: state.incremental,
    write: async (batch) => {
      if (ctx.dryRun) return;
      await writeBatch(db, tables, { name: feed.name, confidence: feed.confidence }, batch, now);
    },
  });
  const limits = {
    maxBytes: feed.maxBytes ?? input.maxBytes,
    timeoutMs: feed.timeout ?? input.timeout,
    allowHttp: feed.allowHttp,
    signal: ctx.signal,
  };
  const counts = () => ({ ...collector.counts, invalidExamples: collector.examples });
  const touched = () => {
    if (collector.written > 0) {
      state.version = base.version + 1;
      state.changedAt = now;
    }
  };
  try {
    const outcome = await readFeed({
      feed,
      state: previous,
      limits,
      sink: collector,
      maxLineLength: feed.maxLineLength ?? input.maxLineLength,
      drain: () => collector.drain(),
      now,
      env: process.env,
    });
    if (outcome.notModified) {
      state.status = "not_modified";
      state.error = null;
      return { report: { name: feed.name, status: "not_modified" }, state };
    }
    await collector.drain(true);
    touched();
    const listed = collector.counts.listed;
    if (!state.incremental && base.listed > 0 && listed < base.listed * (1 - input.maxShrink)) {
      state.status = "shrunk";
      state.error = `listed ${listed}, down from ${base.listed}`;
      return { report: { name: feed.name, status: "shrunk", ...counts(), error: state.error }, state };
    }
    Object.assign(state, {
      status: "ok",
      error: null,
      etag: outcome.etag,
      lastModified: outcome.lastModified,
      cursor: outcome.cursor,
      fetchedAt: now,
      listed: state.incremental ? base.listed + listed : listed,
    });
    return { report: { name: feed.name, status: "updated", ...counts() }, state };
  } catch (error) {
    if (!(error instanceof FeedFetchError)) {
      if (ctx.signal.aborted) throw error;
      throw new TaskError(`ioc-ingest: feed ${feed.name}: ${TERMINAL_DB_ERROR}`, { retryable: true, cause: error });
    }
    touched();
    state.status = "failed";
    state.error = error.message;
    return { report: { name: feed.name, status: "failed", ...counts(), error: error.message }, state };
  }
}

async function expireFeed(run: RunState, rule: ExpiryRule): Promise<{ listings: number; indicators: number }> {
  const { ctx, db, tables } = run;
  if (ctx.dryRun) return { listings: await countExpired(db, tables, rule), indicators: 0 };
  const total = { listings: 0, indicators: 0 };
  for (;;) {
    if (ctx.signal.aborted) break;
    const { rows, removed } = await expireBatch(db, tables, rule, run.input.batchSize);
    total.listings += rows;
    total.indicators += removed;
    if (rows < run.input.batchSize) break;
  }
  return total;
}

async function execute(ctx: TaskContext, input: IocIngestInput): Promise<IocIngestResult> {
  const db = ctx.db;
  if (!db) throw new TaskError("ioc-ingest needs the host's database: set `db` in the upkeep configuration");
  const run: RunState = {
    ctx,
    db,
    tables: iocTables(input.tablePrefix),
    input,
    allowlist: new Allowlist([...(input.allowlist.builtin ? BUILTIN_ALLOWLIST : []), ...input.allowlist.entries]),
    now: ctx.now().getTime(),
  };
  let states: Map<string, FeedState>;
  try {
    states = await loadFeedStates(db, run.tables);
  } catch (error) {
    throw new TaskError(`ioc-ingest: cannot read the feeds table${dbFailureHint(error)}`, {
      retryable: true,
      cause: error,
    });
  }
  const reports: FeedReport[] = [];
  const held = new Set<string>();
  let changed = false;
  const configured = new Map(input.feeds.map((feed) => [feed.name, feed]));
  for (const [index, feed] of input.feeds.entries()) {
    if (ctx.signal.aborted) break;
    ctx.progress({ done: index, total: input.feeds.length, unit: "feeds", label: feed.name });
    if (!feed.enabled) {
      reports.push({ name: feed.name, status: "disabled" });
      continue;
    }
    const { report, state } = await ingestFeed(run, feed, states.get(feed.name));
    reports.push(report);
    if (report.status === "failed" || report.status === "shrunk") {
      held.add(feed.name);
      ctx.logger.warn({ feed: feed.name, status: report.status, error: report.error }, "[upkeep] ioc feed held: previous indicators kept");
      ctx.emit({ type: "ioc.feed_held", severity: "warning", data: { feed: feed.name, status: report.status, error: report.error } });
    } else {
      ctx.logger.info(
        { feed: feed.name, status: report.status, listed: report.listed, invalid: report.invalid, allowlisted: report.allowlisted },
        "[upkeep] ioc feed checked",
      );
    }
    if (state.version !== (states.get(feed.name)?.version ?? 0)) changed = true;
    if (!ctx.dryRun) await saveFeedState(db, run.tables, state);
    states.set(feed.name, state);
  }
  ctx.progress({ done: input.feeds.length, total: input.feeds.length, unit: "feeds" });

  const expired = { listings: 0, indicators: 0 };
  for (const state of states.values()) {
    if (ctx.signal.aborted || held.has(state.name)) continue;
    const feed = configured.get(state.name);
    const rule: ExpiryRule = {
      feed: state.name,
      now: run.now,
      ttlMs: feed?.ttl ?? state.ttlMs,
      listedSince: feed?.enabled && !state.incremental && state.fetchedAt !== null ? state.fetchedAt : undefined,
    };
    const gone = await expireFeed(run, rule);
    expired.listings += gone.listings;
    expired.indicators += gone.indicators;
    if (ctx.dryRun) continue;
    if (gone.listings > 0) changed = true;
    if (!feed && (await countListings(db, run.tables, state.name)) === 0) {
      await deleteFeedState(db, run.tables, state.name);
      changed = true;
    } else if (gone.listings > 0) {
      await saveFeedState(db, run.tables, { ...state, version: state.version + 1, changedAt: run.now });
    }
  }
  if (changed && !ctx.dryRun) notifyIocChange(db, input.tablePrefix);

  const fetched = reports.filter((report) => report.status !== "disabled");
  if (fetched.length > 0 && fetched.every((report) => report.status === "failed")) {
    throw new TaskError(`ioc-ingest: every feed failed (${fetched.map((report) => `${report.name}: ${report.error}`).join("; ")})`, {
      retryable: true,
      reason: "IOC_ALL_FEEDS_FAILED",
    });
  }
  return { dryRun: ctx.dryRun, feeds: reports, held: [...held], expired };
}

/**
 * The `ioc-ingest` task: fetches threat-intelligence feeds, normalises and upserts their
 * indicators, expires those no feed has listed within its TTL, and keeps a failed or shrunk feed's
 * previous indicators. Pair it with `createMatcher({ db })` for lookups.
 *
 * @throws {ConfigError} at registration, naming each invalid option.
 */
export function iocIngestTask(options: IocIngestOptions): TaskDefinition<IocIngestInput, IocIngestResult> {
  const { id, schedule, timezone, ...input } = options;
  return defineTask<IocIngestInput, IocIngestResult>({
    needsDb: true,
    id: id ?? "ioc-ingest",
    description: "Fetches threat-intelligence feeds into the indicator tables and expires stale indicators",
    schedule: schedule ?? "10 * * * *",
    timezone,
    input: iocIngestSchema,
    defaultInput: input,
    timeout: "30m",
    run: (ctx, parsed) => execute(ctx, parsed),
  });
}

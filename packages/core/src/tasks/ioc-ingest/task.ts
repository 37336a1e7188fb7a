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
  applyStaged,
  clearStaging,
  countListings,
  deleteFeedState,
  type ExpiryRule,
  expireBatch,
  type FeedState,
  type IocTables,
  iocTables,
  loadFeedStates,
  saveFeedState,
  stageBatch,
  stagedCounts,
} from "./store.ts";

/** How one feed's check ended in a run. */
export interface FeedReport extends Partial<FeedCounts> {
  /** The feed's name. */
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
  /** Whether this was a dry run, which stored nothing. */
  dryRun: boolean;
  /** One report per configured feed, in the configuration's order. */
  feeds: FeedReport[];
  /** Feeds whose previous indicators were kept because they failed or shrank. */
  held: string[];
  /**
   * Listing rows that expired or were withdrawn, and indicators no feed lists any more (removed).
   * In a dry run, exactly what the real run would remove.
   */
  expired: {
    /** Listing rows (a feed's sighting of an indicator) that expired or were withdrawn. */
    listings: number;
    /** Indicators removed because no feed lists them any more. */
    indicators: number;
  };
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

/** One feed's download, checked and staged, waiting to be applied with its state. */
interface Checked {
  feed: FeedInput;
  report: FeedReport;
  state: FeedState;
  /** Whether the staged download is applied (an `updated` feed); otherwise only the state is saved. */
  apply: boolean;
}

/**
 * Downloads one feed into the staging table and decides its fate: nothing of it is visible until
 * `applyChecked` commits it, and a failed or shrunk download's staging is dropped here.
 */
async function checkFeed(run: RunState, feed: FeedInput, previous: FeedState | undefined): Promise<Checked> {
  const { ctx, db, tables, input, now } = run;
  const base = previous ?? freshState(feed);
  const state: FeedState = { ...base, format: feed.format, ttlMs: feed.ttl, incremental: feed.format === "taxii", checkedAt: now };
  await clearStaging(db, tables, feed.name);
  const collector = new Collector({
    allowlist: run.allowlist,
    minPrefixLength: input.minPrefixLength,
    batchSize: input.batchSize,
    exampleLimit: input.invalidExamples,
    write: (batch) => stageBatch(db, tables, feed.name, batch),
  });
  const limits = {
    maxBytes: feed.maxBytes ?? input.maxBytes,
    timeoutMs: feed.timeout ?? input.timeout,
    allowHttp: feed.allowHttp,
    signal: ctx.signal,
  };
  const counts = (distinct: { listed: number; withdrawn: number }) => ({
    ...collector.counts,
    ...distinct,
    invalidExamples: collector.examples,
  });
  let apply = false;
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
      return { feed, report: { name: feed.name, status: "not_modified" }, state, apply };
    }
    await collector.drain(true);
    const distinct = await stagedCounts(db, tables, feed.name);
    // Withdrawals are the feed's word, not a truncated download: they never count as shrinkage.
    const kept = distinct.listed + distinct.withdrawn;
    if (!state.incremental && base.listed > 0 && kept < base.listed * (1 - input.maxShrink)) {
      state.status = "shrunk";
      state.error = `listed ${distinct.listed}, down from ${base.listed}`;
      return { feed, report: { name: feed.name, status: "shrunk", ...counts(distinct), error: state.error }, state, apply };
    }
    Object.assign(state, {
      status: "ok",
      error: null,
      etag: outcome.etag,
      lastModified: outcome.lastModified,
      cursor: outcome.cursor,
      fetchedAt: now,
      listed: distinct.listed,
    });
    if (kept > 0) {
      state.version = base.version + 1;
      state.changedAt = now;
    }
    apply = true;
    return { feed, report: { name: feed.name, status: "updated", ...counts(distinct) }, state, apply };
  } catch (error) {
    if (!(error instanceof FeedFetchError)) {
      if (ctx.signal.aborted) throw error;
      throw new TaskError(`ioc-ingest: feed ${feed.name}: ${TERMINAL_DB_ERROR}`, { retryable: true, cause: error });
    }
    state.status = "failed";
    state.error = error.message;
    return { feed, report: { name: feed.name, status: "failed", ...counts(collector.counts), error: error.message }, state, apply };
  } finally {
    if (!apply) await clearStaging(db, tables, feed.name);
  }
}

/**
 * Applies a checked feed through `handle` (a transaction): its staged download, if any, and its
 * state, so the matcher's snapshot read sees the feed before or after, never half of it.
 * Withdrawn listings that went are added to `expired`.
 */
async function applyChecked(run: RunState, handle: Knex, checked: Checked, expired: ExpiredCounts): Promise<void> {
  const { feed, state } = checked;
  if (checked.apply) {
    const gone = await applyStaged(handle, run.tables, { name: feed.name, confidence: feed.confidence }, run.now);
    expired.listings += gone.listings;
    expired.indicators += gone.indicators;
    if (gone.listings > 0 && state.changedAt !== run.now) {
      state.version += 1;
      state.changedAt = run.now;
    }
    if (state.incremental) state.listed = await countListings(handle, run.tables, feed.name);
  }
  await saveFeedState(handle, run.tables, state);
}

type ExpiredCounts = IocIngestResult["expired"];

async function expireFeed(run: RunState, handle: Knex, rule: ExpiryRule): Promise<ExpiredCounts> {
  const total = { listings: 0, indicators: 0 };
  for (;;) {
    if (run.ctx.signal.aborted) break;
    const { rows, removed } = await expireBatch(handle, run.tables, rule, run.input.batchSize);
    total.listings += rows;
    total.indicators += removed;
    if (rows < run.input.batchSize) break;
  }
  return total;
}

/**
 * Expires every feed's stale listings through `handle`: by TTL, and past `valid_until` even for a
 * held feed. Removes the state of an unconfigured feed with nothing left. Resolves whether anything changed.
 */
async function expireAll(
  run: RunState,
  handle: Knex,
  states: Map<string, FeedState>,
  held: Set<string>,
  expired: ExpiredCounts,
): Promise<boolean> {
  const configured = new Map(run.input.feeds.map((feed) => [feed.name, feed]));
  let changed = false;
  for (const state of states.values()) {
    if (run.ctx.signal.aborted) break;
    const feed = configured.get(state.name);
    const rule: ExpiryRule = {
      feed: state.name,
      now: run.now,
      ttlMs: feed?.ttl ?? state.ttlMs,
      listedSince: feed?.enabled && !state.incremental && state.fetchedAt !== null ? state.fetchedAt : undefined,
      validUntilOnly: held.has(state.name),
    };
    const gone = await expireFeed(run, handle, rule);
    expired.listings += gone.listings;
    expired.indicators += gone.indicators;
    if (gone.listings > 0) changed = true;
    if (!feed && (await countListings(handle, run.tables, state.name)) === 0) {
      await deleteFeedState(handle, run.tables, state.name);
      changed = true;
    } else if (gone.listings > 0) {
      await saveFeedState(handle, run.tables, { ...state, version: state.version + 1, changedAt: run.now });
    }
  }
  return changed;
}

const ROLLBACK = Symbol("dry run");

/** Runs `work` in a transaction that is always rolled back: a dry run does exactly what a real run would, then undoes it. */
async function rolledBack(db: Knex, work: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
  try {
    await db.transaction(async (trx) => {
      await work(trx);
      throw ROLLBACK;
    });
  } catch (error) {
    if (error !== ROLLBACK) throw error;
  }
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
    await db(run.tables.staging).first();
  } catch (error) {
    throw new TaskError(`ioc-ingest: cannot read the feeds or staging table${dbFailureHint(error)}`, {
      retryable: true,
      cause: error,
    });
  }
  const reports: FeedReport[] = [];
  const held = new Set<string>();
  const checkedFeeds: Checked[] = [];
  const expired = { listings: 0, indicators: 0 };
  let changed = false;
  try {
    for (const [index, feed] of input.feeds.entries()) {
      if (ctx.signal.aborted) break;
      ctx.progress({ done: index, total: input.feeds.length, unit: "feeds", label: feed.name });
      if (!feed.enabled) {
        reports.push({ name: feed.name, status: "disabled" });
        continue;
      }
      const checked = await checkFeed(run, feed, states.get(feed.name));
      const { report, state } = checked;
      reports.push(report);
      const heldNow = report.status === "failed" || report.status === "shrunk";
      if (heldNow) {
        held.add(feed.name);
        ctx.logger.warn(
          { feed: feed.name, status: report.status, error: report.error },
          "[upkeep] ioc feed held: previous indicators kept",
        );
      } else {
        ctx.logger.info(
          { feed: feed.name, status: report.status, listed: report.listed, invalid: report.invalid, allowlisted: report.allowlisted },
          "[upkeep] ioc feed checked",
        );
      }
      if (state.version !== (states.get(feed.name)?.version ?? 0)) changed = true;
      // A dry run applies nothing yet: every feed is applied, and rolled back, with the expiry below.
      if (ctx.dryRun) checkedFeeds.push(checked);
      else {
        await db.transaction(async (trx) => {
          // The event commits with the state that marks the feed held (failed or shrunk), or not at all.
          if (heldNow) {
            const data = { feed: feed.name, status: report.status, error: report.error };
            await ctx.emit({ type: "ioc.feed_held", severity: "warning", data }, { trx });
          }
          await applyChecked(run, trx, checked, expired);
        });
      }
      states.set(feed.name, state);
    }
    ctx.progress({ done: input.feeds.length, total: input.feeds.length, unit: "feeds" });
    if (ctx.dryRun) {
      await rolledBack(db, async (trx) => {
        for (const checked of checkedFeeds) await applyChecked(run, trx, checked, expired);
        await expireAll(run, trx, states, held, expired);
      });
    } else if (await expireAll(run, db, states, held, expired)) changed = true;
  } finally {
    for (const checked of checkedFeeds) if (checked.apply) await clearStaging(db, run.tables, checked.feed.name);
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

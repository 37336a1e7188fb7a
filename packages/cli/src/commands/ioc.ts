import { type IocCheckResult, type IocStats, iocCheck, iocStats } from "@upkeep/core";
import type { Command } from "../command.ts";
import { EXIT, UsageError } from "../command.ts";
import { formatRelative, formatTime, json, oneLine, table } from "../format.ts";

const USAGE = "upkeep ioc check <value> | upkeep ioc stats [--json]";

/** The text of `upkeep ioc check`: whether the value is listed, by what, by which feeds since when. */
export function renderCheck(value: string, result: IocCheckResult, timezone: string, now: Date): string {
  if (!result.listed || !result.match) return `${result.normalised?.value ?? value} is not listed.\n`;
  const { match } = result;
  const via = match.value === result.normalised?.value ? "" : ` (covered by ${match.kind} ${match.value})`;
  const rows = result.feeds.map((feed) => [
    feed.feed,
    `${formatTime(feed.firstSeen, timezone)} (${formatRelative(feed.firstSeen, now)})`,
    `${formatTime(feed.lastSeen, timezone)} (${formatRelative(feed.lastSeen, now)})`,
    feed.validUntil ? formatTime(feed.validUntil, timezone) : "-",
  ]);
  return `${result.normalised?.value ?? value} is LISTED${via}, confidence ${match.confidence}.\n${table(
    ["FEED", `SINCE (${timezone})`, "LAST SEEN", "VALID UNTIL"],
    rows,
  )}`;
}

/** The text of `upkeep ioc stats`: live indicators per kind and each feed's state. */
export function renderStats(stats: IocStats, timezone: string, now: Date): string {
  const kinds = Object.entries(stats.indicators)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ");
  const rows = stats.feeds.map((feed) => [
    feed.name,
    feed.format,
    feed.status,
    String(feed.listing),
    feed.checkedAt ? formatRelative(feed.checkedAt, now) : "never",
    feed.fetchedAt ? formatTime(feed.fetchedAt, timezone) : "never",
    feed.error ? oneLine(feed.error, 60) : "",
  ]);
  return `${stats.total} live indicators${kinds ? ` (${kinds})` : ""}.\n${
    rows.length > 0
      ? table(["FEED", "FORMAT", "STATUS", "LISTING", "CHECKED", `LAST GOOD (${timezone})`, "ERROR"], rows)
      : "No feeds checked yet.\n"
  }`;
}

/** `upkeep ioc check <value>` and `upkeep ioc stats`: the ioc-ingest indicator tables. */
export const iocCommand: Command = {
  name: "ioc",
  summary: "Check a value against the threat-intelligence indicators, or show feed stats",
  usage: USAGE,
  async run(ctx) {
    const [verb, value, ...rest] = ctx.positionals;
    const db = ctx.config.db;
    if (!db) throw new UsageError("ioc needs `db` (your knex instance) in the upkeep config");
    const tablePrefix = ctx.config.tablePrefix ?? "upkeep_";
    const timezone = ctx.config.timezone ?? "UTC";
    if (verb === "check") {
      if (value === undefined || rest.length > 0) throw new UsageError(`expected one value: ${USAGE}`);
      const result = await iocCheck(db, value, { tablePrefix });
      // A value that is no indicator at all is a usage error (exit 2), not "not listed".
      if (!result.normalised && !result.listed)
        throw new UsageError(`${JSON.stringify(value)} is not an IP address, network, domain, URL or hash`);
      ctx.stdout(ctx.json ? json(result) : renderCheck(value, result, timezone, ctx.now()));
      return EXIT.ok;
    }
    if (verb === "stats") {
      if (value !== undefined) throw new UsageError(`ioc stats takes no argument: ${USAGE}`);
      const stats = await iocStats(db, { tablePrefix });
      ctx.stdout(ctx.json ? json(stats) : renderStats(stats, timezone, ctx.now()));
      return EXIT.ok;
    }
    throw new UsageError(`expected check or stats: ${USAGE}`);
  },
};

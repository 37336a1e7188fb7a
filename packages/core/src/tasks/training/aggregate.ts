import { createHmac } from "node:crypto";
import type { Knex } from "knex";
import { dialectOf, type SqlDialect } from "../../db.ts";
import { quantileFromBuckets } from "./histogram.ts";
import type { TrainingInput } from "./options.ts";
import { hasPercentiles, hourIndexSql, labelSql } from "./sql.ts";
import { type ClientRow, type SeriesPoint, type TrainingDataset, throwIfAborted } from "./trainer.ts";

const HOUR = 3_600_000;
/** The series name of every endpoint together. */
export const PLATFORM = "platform";

/** Counts of what the aggregation kept and dropped; no identities. */
export interface AggregationStats {
  /** Series-hours kept (platform and endpoints). */
  buckets: number;
  /** Series-hours dropped for having fewer than `minTenants` tenants. */
  droppedBuckets: number;
  /** Client-hours in the window. */
  clientHours: number;
}

type Row = Record<string, unknown>;

/**
 * The hour grid of a run: hours end where the window ends (`to`), which is the start of an hour in
 * the task's timezone, so in a half-hour zone every hour starts at :30 UTC.
 */
function hourGrid(input: TrainingInput, to: number) {
  const ms = input.telemetry.timeUnit === "ms";
  const shiftMs = ((to % HOUR) + HOUR) % HOUR;
  return {
    unit: ms ? HOUR : 3600,
    scale: ms ? 1 : 1 / 1000,
    shiftMs,
    shift: ms ? shiftMs : Math.round(shiftMs / 1000),
  };
}
const num = (value: unknown): number => (value === null || value === undefined ? Number.NaN : Number(value));

/** The base feature names of a client-hour, before host extras. */
export function featureNames(input: Pick<TrainingInput, "isListed" | "extraFeatures">): string[] {
  return ["requests", "errorShare", "endpoints", ...(input.isListed ? ["ioc"] : []), ...Object.keys(input.extraFeatures)];
}

/** Keyed hash of a client IP; the key never leaves the run. */
export function hashClient(secret: string | Buffer, ip: string): string {
  return createHmac("sha256", secret).update(ip).digest("hex").slice(0, 32);
}

/**
 * The rows a published figure may count: those of the (endpoint, hour) buckets with at least
 * `minTenants` tenants, as a join onto a grouped derived table. Every total (the platform series,
 * the client-hours) is taken over these rows only, so no difference of published figures gives a
 * dropped bucket back.
 */
function keptRows(dialect: SqlDialect, input: TrainingInput, from: number, to: number): { sql: string; bindings: unknown[] } {
  const { table, columns } = input.telemetry;
  const { unit, scale, shift } = hourGrid(input, to);
  const hour = hourIndexSql(dialect, unit, shift);
  return {
    sql:
      `?? join (select ${hour} as kept_hour, ?? as kept_endpoint from ?? where ?? >= ? and ?? < ? ` +
      `group by 1, 2 having count(distinct ??) >= ?) kept on kept.kept_hour = ${hour} and kept.kept_endpoint = ??`,
    bindings: [
      table,
      columns.timestamp,
      columns.endpoint,
      table,
      columns.timestamp,
      from * scale,
      columns.timestamp,
      to * scale,
      columns.tenant,
      input.minTenants,
      columns.timestamp,
      columns.endpoint,
    ],
  };
}

/** One kept series-hour as the database counted it, before percentiles are read off. */
interface SeriesCounts {
  hourIndex: number;
  series: string;
  requests: number;
  errors: number;
  timed: number;
  maxLatency: number;
  /** `percentile_cont` p50, p95, p99 (PostgreSQL), or the cumulative bucket counts (elsewhere). */
  quantiles: number[];
}

/**
 * Hourly series in SQL: per hour (and per endpoint unless `platform`), requests, server errors,
 * distinct tenants (a count only) and latency percentiles, from `percentile_cont` on PostgreSQL and
 * from bucket counts elsewhere. Endpoint buckets with fewer than `minTenants` tenants are dropped;
 * the platform series counts the kept buckets' rows only.
 */
async function seriesHours(db: Knex, input: TrainingInput, from: number, to: number, platform: boolean) {
  const dialect = dialectOf(db);
  const { table, columns } = input.telemetry;
  const { unit, scale, shift } = hourGrid(input, to);
  const select: string[] = [`${hourIndexSql(dialect, unit, shift)} as hour_index`];
  const bindings: unknown[] = [columns.timestamp];
  if (!platform) {
    select.push("?? as series");
    bindings.push(columns.endpoint);
  }
  select.push("count(*) as requests", "sum(case when ?? >= 500 then 1 else 0 end) as errors", "count(distinct ??) as tenants");
  bindings.push(columns.status, columns.tenant);
  select.push("count(??) as timed", "max(??) as max_latency");
  bindings.push(columns.latency, columns.latency);
  const quantileColumns: string[] = [];
  if (hasPercentiles(dialect)) {
    for (const q of [50, 95, 99]) {
      select.push(`percentile_cont(0.${q}) within group (order by ??) as p${q}`);
      bindings.push(columns.latency);
      quantileColumns.push(`p${q}`);
    }
  } else {
    input.latencyBuckets.forEach((bound, i) => {
      select.push(`sum(case when ?? <= ? then 1 else 0 end) as le_${i}`);
      bindings.push(columns.latency, bound);
      quantileColumns.push(`le_${i}`);
    });
  }
  const groupBy = platform ? "1" : "1, 2";
  const source = platform ? keptRows(dialect, input, from, to) : { sql: "??", bindings: [table] };
  const sql = `select ${select.join(", ")} from ${source.sql} where ?? >= ? and ?? < ? group by ${groupBy}`;
  bindings.push(...source.bindings, columns.timestamp, from * scale, columns.timestamp, to * scale);
  const rows = ((await db.raw(sql, bindings as Knex.RawBinding[])) as unknown as { rows?: Row[] } | Row[][] | Row[]) ?? [];
  const kept: SeriesCounts[] = [];
  let dropped = 0;
  for (const row of resultRows(rows)) {
    if (num(row.tenants) < input.minTenants) {
      dropped++;
      continue;
    }
    kept.push({
      hourIndex: num(row.hour_index),
      series: platform ? PLATFORM : String(row.series),
      requests: num(row.requests),
      errors: num(row.errors),
      timed: num(row.timed),
      maxLatency: num(row.max_latency),
      quantiles: quantileColumns.map((column) => num(row[column])),
    });
  }
  return { kept, dropped };
}

/**
 * The platform series from the kept endpoint buckets, where every figure adds up: counts, the
 * maximum and the cumulative bucket counts (not PostgreSQL's percentiles). The same figures as the
 * platform statement over the kept rows, without a second scan of the table.
 */
function platformFromBuckets(buckets: SeriesCounts[]): SeriesCounts[] {
  const byHour = new Map<number, SeriesCounts>();
  for (const bucket of buckets) {
    const hour = byHour.get(bucket.hourIndex);
    if (!hour) {
      byHour.set(bucket.hourIndex, { ...bucket, series: PLATFORM, quantiles: [...bucket.quantiles] });
      continue;
    }
    hour.requests += bucket.requests;
    hour.errors += bucket.errors;
    hour.timed += bucket.timed;
    // An hour whose latencies are all null has no maximum (NaN); any other maximum wins.
    if (!(hour.maxLatency >= bucket.maxLatency)) hour.maxLatency = bucket.maxLatency;
    bucket.quantiles.forEach((count, i) => {
      hour.quantiles[i] = (hour.quantiles[i] as number) + count;
    });
  }
  return [...byHour.values()];
}

function seriesPoint(input: TrainingInput, dialect: SqlDialect, shiftMs: number, counts: SeriesCounts): SeriesPoint {
  const percentile = (q: number) => {
    if (hasPercentiles(dialect)) return counts.quantiles[[50, 95, 99].indexOf(q)] as number;
    return quantileFromBuckets(input.latencyBuckets, counts.quantiles, counts.timed, counts.maxLatency, q / 100);
  };
  return {
    hour: counts.hourIndex * HOUR + shiftMs,
    series: counts.series,
    requests: counts.requests,
    errorRate: counts.requests > 0 ? counts.errors / counts.requests : 0,
    p50: percentile(50),
    p95: percentile(95),
    p99: percentile(99),
  };
}

/** knex's raw result differs by driver: `{ rows }` (pg), `[rows, fields]` (mysql2), `rows` (SQLite). */
function resultRows(result: { rows?: Row[] } | Row[][] | Row[]): Row[] {
  if (Array.isArray(result)) return Array.isArray(result[0]) ? (result[0] as Row[]) : (result as Row[]);
  return result.rows ?? [];
}

/**
 * Client-hours in SQL: per hour and client IP, requests, client errors (4xx and 5xx), distinct
 * endpoints, the label and the host's extra aggregates, over the rows of kept buckets only. IPs are
 * hashed (and looked up in the IoC matcher) here, on rows already aggregated; the raw rows never
 * reach the process.
 */
async function clientHours(db: Knex, input: TrainingInput, from: number, to: number, secret: string | Buffer): Promise<ClientRow[]> {
  const dialect = dialectOf(db);
  const { columns } = input.telemetry;
  const { unit, scale, shift, shiftMs } = hourGrid(input, to);
  const select = [
    `${hourIndexSql(dialect, unit, shift)} as hour_index`,
    "?? as client",
    "count(*) as requests",
    "sum(case when ?? >= 400 then 1 else 0 end) as errors",
    "count(distinct ??) as endpoints",
  ];
  const bindings: unknown[] = [columns.timestamp, columns.clientIp, columns.status, columns.endpoint];
  if (columns.label) {
    select.push(`${labelSql(dialect)} as label`);
    bindings.push(columns.label);
  }
  const extras = Object.entries(input.extraFeatures);
  extras.forEach(([, expression], i) => {
    select.push(`(${expression.replaceAll("?", "\\?")}) as x_${i}`);
  });
  const source = keptRows(dialect, input, from, to);
  const sql = `select ${select.join(", ")} from ${source.sql} where ?? >= ? and ?? < ? and ?? is not null group by 1, 2`;
  bindings.push(...source.bindings, columns.timestamp, from * scale, columns.timestamp, to * scale, columns.clientIp);
  const rows = resultRows((await db.raw(sql, bindings as Knex.RawBinding[])) as unknown as { rows?: Row[] } | Row[][] | Row[]);
  const seen = new Map<string, { client: string; listed: boolean }>();
  const out: ClientRow[] = rows.map((row) => {
    const ip = String(row.client);
    let known = seen.get(ip);
    if (!known) {
      known = { client: hashClient(secret, ip), listed: input.isListed ? Boolean(input.isListed(ip)) : false };
      seen.set(ip, known);
    }
    const requests = num(row.requests);
    const features: Record<string, number> = {
      requests,
      errorShare: requests > 0 ? num(row.errors) / requests : 0,
      endpoints: num(row.endpoints),
    };
    if (input.isListed) features.ioc = known.listed ? 1 : 0;
    extras.forEach(([name], i) => {
      const value = num(row[`x_${i}`]);
      features[name] = Number.isFinite(value) ? value : 0;
    });
    const client: ClientRow = { hour: num(row.hour_index) * HOUR + shiftMs, client: known.client, features };
    if (columns.label) client.label = num(row.label) > 0 ? 1 : 0;
    return client;
  });
  seen.clear();
  return out.sort((a, b) => a.hour - b.hour || (a.client < b.client ? -1 : a.client > b.client ? 1 : 0));
}

/**
 * Builds the anonymised dataset of a run: hourly series over the history and the window, and
 * client-hours of the window. Every statement aggregates in the database.
 */
export async function aggregateTelemetry(
  db: Knex,
  input: TrainingInput,
  range: { historyFrom: number; from: number; to: number },
  secret: string | Buffer,
  signal: AbortSignal,
): Promise<{ dataset: TrainingDataset; stats: AggregationStats }> {
  const dialect = dialectOf(db);
  const endpoints = await seriesHours(db, input, range.historyFrom, range.to, false);
  throwIfAborted(signal);
  // Percentiles do not add up across endpoints, so PostgreSQL's platform series is its own statement.
  const platform = hasPercentiles(dialect)
    ? await seriesHours(db, input, range.historyFrom, range.to, true)
    : { kept: platformFromBuckets(endpoints.kept), dropped: 0 };
  throwIfAborted(signal);
  const clients = await clientHours(db, input, range.from, range.to, secret);
  const { shiftMs } = hourGrid(input, range.to);
  const series = [...platform.kept, ...endpoints.kept]
    .map((counts) => seriesPoint(input, dialect, shiftMs, counts))
    .sort((a, b) => (a.series < b.series ? -1 : a.series > b.series ? 1 : 0) || a.hour - b.hour);
  return {
    dataset: {
      window: { from: range.from, to: range.to },
      historyFrom: range.historyFrom,
      series,
      clients,
      featureNames: featureNames(input),
      hasLabels: input.telemetry.columns.label !== undefined,
    },
    stats: { buckets: series.length, droppedBuckets: platform.dropped + endpoints.dropped, clientHours: clients.length },
  };
}

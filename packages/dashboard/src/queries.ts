import { dialectOf, type RunRecord, type RunStatus, runFromRow, type Upkeep } from "@upkeep/core";
import type { Knex } from "knex";

/** Filters of a task's run list. */
export interface RunFilter {
  status?: RunStatus;
  trigger?: RunRecord["trigger"];
  /** Runs claimed at or after. */
  from?: Date;
  /** Runs claimed before. */
  to?: Date;
}

/** Where a page of runs ends: the last run's claim time and id (runs are ordered by both, newest first). */
export interface Cursor {
  claimedAt: number;
  id: string;
}

export interface RunPage {
  runs: RunRecord[];
  next: Cursor | null;
}

/** One day of a task's outcomes, for the 30-day strip. */
export interface DayOutcomes {
  /** Days since the epoch (UTC). */
  day: number;
  counts: Partial<Record<RunStatus, number>>;
}

/** A security event as the events page shows it. */
export interface SecurityEvent {
  id: string;
  taskId: string;
  runId: string | null;
  type: string;
  severity: string;
  at: Date;
  data: unknown;
}

export const DAY_MS = 86_400_000;

const num = (value: unknown): number => (typeof value === "number" ? value : Number(value));

function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value))) return new Date(num(value));
  return new Date(String(value));
}

function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value ?? null;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** What the pages read beyond `upkeep.health()`: the history, straight from `<prefix>runs`. */
export interface DashboardData {
  runs(taskId: string, filter: RunFilter, cursor: Cursor | null, limit: number): Promise<RunPage>;
  run(runId: string): Promise<RunRecord | undefined>;
  /** Each task's outcomes per UTC day since `since`. */
  days(since: Date): Promise<Map<string, DayOutcomes[]>>;
  /** The durations of each task's latest `limit` finished runs, oldest first. */
  durations(taskIds: readonly string[], limit: number): Promise<Map<string, RunRecord[]>>;
  /** Security events, newest first; `source` says where they came from. */
  securityEvents(
    cursor: Cursor | null,
    limit: number,
  ): Promise<{ events: SecurityEvent[]; next: Cursor | null; source: "events" | "results" }>;
}

/** Keyset paging: the rows after `cursor` in `(column, id)` descending order. */
function olderThan(query: Knex.QueryBuilder, column: string, cursor: Cursor): void {
  query.where((older) =>
    older.where(column, "<", cursor.claimedAt).orWhere((same) => same.where(column, cursor.claimedAt).where("id", "<", cursor.id)),
  );
}

/** The statement behind a task's run list: one range of the `(task_id, claimed_at, id)` index. */
export function runsQuery(db: Knex, table: string, taskId: string, filter: RunFilter, cursor: Cursor | null, limit: number) {
  const query = db(table)
    .select("*")
    .where({ task_id: taskId })
    .orderBy([
      { column: "claimed_at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(limit);
  if (filter.status) query.where({ status: filter.status });
  if (filter.trigger) query.where({ trigger: filter.trigger });
  if (filter.from) query.where("claimed_at", ">=", filter.from.getTime());
  if (filter.to) query.where("claimed_at", "<", filter.to.getTime());
  if (cursor) olderThan(query, "claimed_at", cursor);
  return query;
}

/** The statement behind the 30-day strip: outcomes per task, UTC day and status. */
export function daysQuery(db: Knex, table: string, since: Date) {
  const day = dialectOf(db) === "mysql" ? "claimed_at div 86400000" : "claimed_at / 86400000";
  return db(table)
    .select("task_id", "status", db.raw(`${day} as day`))
    .count({ runs: "*" })
    .where("claimed_at", ">=", since.getTime())
    .groupBy("task_id", "status", db.raw(day));
}

/** SQLite allows 500 members in a compound select: the sparklines read this many tasks per statement. */
const TASKS_PER_STATEMENT = 100;

/**
 * The statement behind the duration sparklines: each task's latest `limit` finished runs, one
 * range of the `(task_id, claimed_at, id)` index per task, glued with UNION ALL into one statement
 * (derived tables, as SQLite takes no parenthesised members in a compound select).
 */
export function durationsQuery(db: Knex, table: string, taskIds: readonly string[], limit: number) {
  const [first, ...rest] = taskIds.map((taskId, index) =>
    db.select("*").from(
      db(table)
        .select("*")
        .where({ task_id: taskId })
        .whereNotNull("finished_at")
        .orderBy([
          { column: "claimed_at", order: "desc" },
          { column: "id", order: "desc" },
        ])
        .limit(limit)
        .as(`t${index}`),
    ),
  );
  if (!first) throw new Error("[upkeep] [dashboard] durationsQuery needs at least one task");
  return rest.length === 0 ? first : first.unionAll(rest);
}

function pageOf<T extends { claimedAt: number; id: string }>(rows: T[], limit: number): { rows: T[]; next: Cursor | null } {
  if (rows.length <= limit) return { rows, next: null };
  const page = rows.slice(0, limit);
  const last = page[page.length - 1] as T;
  return { rows: page, next: { claimedAt: last.claimedAt, id: last.id } };
}

/** Security events derived from stored results, for hosts without an events table. */
function eventsFromResult(run: RunRecord): SecurityEvent[] {
  const result = run.result as Record<string, unknown> | null;
  if (!result || typeof result !== "object" || run.dryRun) return [];
  const base = { taskId: run.taskId, runId: run.id, at: run.finishedAt ?? run.claimedAt };
  const events: SecurityEvent[] = [];
  if (Array.isArray(result.suspendedIds) && num(result.suspended) > 0) {
    events.push({
      ...base,
      id: `${run.id}:suspended`,
      type: "agent.suspended",
      severity: "warning",
      data: { suspended: result.suspended, ids: result.suspendedIds },
    });
  }
  if (result.rotated === true) {
    events.push({
      ...base,
      id: `${run.id}:rotated`,
      type: "key-rotation.rotated",
      severity: "info",
      data: { keyId: result.activeKeyId ?? null },
    });
  }
  if (Array.isArray(result.held) && result.held.length > 0) {
    events.push({ ...base, id: `${run.id}:held`, type: "ioc.feed_held", severity: "warning", data: { feeds: result.held } });
  }
  return events;
}

/** How many recent finished runs the events page reads when it derives events from results. */
const RESULT_SCAN = 1000;

/** Reads the history from the host's knex, `<prefix>runs` and, when it exists, `<prefix>events`. */
export function knexData(db: Knex, prefix: string): DashboardData {
  const table = `${prefix}runs`;
  const eventsTable = `${prefix}events`;
  let hasEvents: Promise<boolean> | undefined;
  return {
    async runs(taskId, filter, cursor, limit) {
      const rows = ((await runsQuery(db, table, taskId, filter, cursor, limit + 1)) as Record<string, unknown>[]).map(runFromRow);
      const { next } = pageOf(
        rows.map((run) => ({ claimedAt: run.claimedAt.getTime(), id: run.id })),
        limit,
      );
      return { runs: rows.slice(0, limit), next };
    },
    async run(runId) {
      const row = (await db(table).where({ id: runId }).first()) as Record<string, unknown> | undefined;
      return row && runFromRow(row);
    },
    async days(since) {
      const rows = (await daysQuery(db, table, since)) as Array<Record<string, unknown>>;
      const out = new Map<string, Map<number, DayOutcomes>>();
      for (const row of rows) {
        const taskId = String(row.task_id);
        const day = Math.floor(num(row.day));
        const byDay = out.get(taskId) ?? new Map<number, DayOutcomes>();
        out.set(taskId, byDay);
        const entry = byDay.get(day) ?? { day, counts: {} };
        byDay.set(day, entry);
        entry.counts[row.status as RunStatus] = num(row.runs);
      }
      return new Map([...out].map(([taskId, byDay]) => [taskId, [...byDay.values()]]));
    },
    async durations(taskIds, limit) {
      const byTask = new Map<string, RunRecord[]>(taskIds.map((taskId) => [taskId, []]));
      for (let start = 0; start < taskIds.length; start += TASKS_PER_STATEMENT) {
        const rows = (await durationsQuery(db, table, taskIds.slice(start, start + TASKS_PER_STATEMENT), limit)) as Record<
          string,
          unknown
        >[];
        for (const run of rows.map(runFromRow)) byTask.get(run.taskId)?.push(run);
      }
      // UNION ALL keeps no order across its members: oldest first, as the sparkline draws them.
      for (const list of byTask.values()) list.sort((a, b) => a.claimedAt.getTime() - b.claimedAt.getTime() || (a.id < b.id ? -1 : 1));
      return byTask;
    },
    async securityEvents(cursor, limit) {
      hasEvents ??= db.schema.hasTable(eventsTable).catch(() => false);
      if (await hasEvents) {
        const query = db(eventsTable)
          .select("*")
          .where({ security: true })
          .orderBy([
            { column: "created_at", order: "desc" },
            { column: "id", order: "desc" },
          ])
          .limit(limit + 1);
        if (cursor) olderThan(query, "created_at", cursor);
        const rows = (await query) as Record<string, unknown>[];
        const events = rows.map((row) => ({
          id: String(row.id),
          taskId: String(row.task),
          runId: row.run_id === null || row.run_id === undefined ? null : String(row.run_id),
          type: String(row.type),
          severity: String(row.severity ?? "info"),
          at: toDate(row.created_at),
          data: parseJson(row.data),
          claimedAt: num(row.created_at),
        }));
        const { rows: page, next } = pageOf(events, limit);
        return { events: page, next, source: "events" };
      }
      const query = db(table)
        .select("*")
        .whereNotNull("result")
        .where({ dry_run: false })
        .orderBy([
          { column: "claimed_at", order: "desc" },
          { column: "id", order: "desc" },
        ])
        .limit(RESULT_SCAN);
      if (cursor) olderThan(query, "claimed_at", cursor);
      const runs = ((await query) as Record<string, unknown>[]).map(runFromRow);
      const events = runs.flatMap(eventsFromResult).slice(0, limit);
      const last = runs[runs.length - 1];
      const next = runs.length === RESULT_SCAN && last ? { claimedAt: last.claimedAt.getTime(), id: last.id } : null;
      return { events, next, source: "results" };
    },
  };
}

/** The same reads through `upkeep.runs()`, for a host with no knex (the in-memory store): recent runs only. */
export function handleData(upkeep: Upkeep): DashboardData {
  const recent = (taskId?: string) => upkeep.runs({ ...(taskId ? { taskId } : {}), limit: 10_000 });
  return {
    async runs(taskId, filter, cursor, limit) {
      const matching = (await recent(taskId)).filter(
        (run) =>
          (!filter.status || run.status === filter.status) &&
          (!filter.trigger || run.trigger === filter.trigger) &&
          (!filter.from || run.claimedAt >= filter.from) &&
          (!filter.to || run.claimedAt < filter.to) &&
          (!cursor || run.claimedAt.getTime() < cursor.claimedAt || (run.claimedAt.getTime() === cursor.claimedAt && run.id < cursor.id)),
      );
      const { rows, next } = pageOf(
        matching.slice(0, limit + 1).map((run) => ({ run, claimedAt: run.claimedAt.getTime(), id: run.id })),
        limit,
      );
      return { runs: rows.map((row) => row.run), next };
    },
    async run(runId) {
      return (await recent()).find((run) => run.id === runId);
    },
    async days(since) {
      const out = new Map<string, DayOutcomes[]>();
      for (const run of await recent()) {
        if (run.claimedAt < since) continue;
        const day = Math.floor(run.claimedAt.getTime() / DAY_MS);
        const list = out.get(run.taskId) ?? [];
        out.set(run.taskId, list);
        const entry = list.find((item) => item.day === day) ?? { day, counts: {} };
        if (!list.includes(entry)) list.push(entry);
        entry.counts[run.status] = (entry.counts[run.status] ?? 0) + 1;
      }
      return out;
    },
    async durations(taskIds, limit) {
      const all = await recent();
      return new Map(
        taskIds.map((taskId) => [
          taskId,
          all
            .filter((run) => run.taskId === taskId && run.finishedAt)
            .slice(0, limit)
            .reverse(),
        ]),
      );
    },
    async securityEvents(_cursor, limit) {
      return { events: (await recent()).flatMap(eventsFromResult).slice(0, limit), next: null, source: "results" };
    },
  };
}

import type { RunStatus, RunTrigger } from "@upkeep/core";
import type { Knex } from "knex";

/** One row of the runs table, read straight from the database. */
export interface OracleRun {
  /** The run's task. */
  taskId: string;
  /** Epoch milliseconds of the tick the run served. */
  scheduledFor: number;
  /** The run's status as stored. */
  status: RunStatus;
  /** What started the run: `schedule`, `catch-up` or `manual`. */
  trigger: RunTrigger;
  /** The host name of the process that claimed it. */
  host: string;
}

/** Reads the runs table directly (not through the adapter or the store), so a suite checks side effects. */
export interface RunOracle {
  /** Every run, or those of one task, oldest tick first. */
  runs(taskId?: string): Promise<OracleRun[]>;
  /** Ticks that hold more than one scheduled or catch-up run: must always be empty. Manual runs are not ticks. */
  duplicateTicks(): Promise<
    Array<{
      /** The task of the tick. */
      taskId: string;
      /** Epoch milliseconds of the tick. */
      scheduledFor: number;
      /** How many scheduled or catch-up runs it holds (2 or more). */
      count: number;
    }>
  >;
}

interface Row {
  task_id: string;
  scheduled_for: number | string;
  status: RunStatus;
  trigger: RunTrigger;
  host: string;
}

/** An oracle over `<tablePrefix>runs` in `db`. */
export function runOracle(db: Knex, tablePrefix = "upkeep_"): RunOracle {
  const table = `${tablePrefix}runs`;
  return {
    async runs(taskId) {
      const query = db<Row>(table).select("task_id", "scheduled_for", "status", "trigger", "host").orderBy("scheduled_for", "asc");
      if (taskId !== undefined) query.where("task_id", taskId);
      const rows = (await query) as Row[];
      return rows.map((row) => ({
        taskId: row.task_id,
        scheduledFor: Number(row.scheduled_for),
        status: row.status,
        trigger: row.trigger,
        host: row.host,
      }));
    },
    async duplicateTicks() {
      const rows = (await db(table)
        .select("task_id", "scheduled_for")
        .whereNot("trigger", "manual")
        .count({ count: "*" })
        .groupBy("task_id", "scheduled_for")
        .havingRaw("count(*) > 1")) as Array<{ task_id: string; scheduled_for: number | string; count: number | string }>;
      return rows.map((row) => ({ taskId: row.task_id, scheduledFor: Number(row.scheduled_for), count: Number(row.count) }));
    },
  };
}

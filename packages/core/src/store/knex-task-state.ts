import type { Knex } from "knex";
import type { RunStore, TaskState } from "./types.ts";

type Row = Record<string, unknown>;
type Wrap = <T>(what: string, work: () => Promise<T>) => Promise<T>;
type TaskStateMethods = Pick<RunStore, "taskState" | "taskStates" | "watchTasks" | "setPaused" | "announce">;

const time = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(Number(value)));

function toState(row: Row): TaskState {
  return {
    taskId: String(row.task_id),
    paused: Boolean(row.paused),
    pausedAt: time(row.paused_at),
    pausedReason: (row.paused_reason as string | null) ?? null,
    watchedSince: time(row.watched_since),
    announced: (row.announced as string | null) ?? null,
  };
}

/** The task-state half of the knex run store: `<prefix>task_state`, one row per task. */
export function knexTaskState(db: Knex, prefix: string, wrap: Wrap): TaskStateMethods {
  const states = () => db(`${prefix}task_state`);
  // Insert-or-nothing on the primary key, so racing workers keep the first row.
  const ensure = async (taskIds: readonly string[], at: number, extra: (id: string) => Row = () => ({})) => {
    if (taskIds.length === 0) return;
    await states()
      .insert(taskIds.map((id) => ({ task_id: id, paused: false, updated_at: at, ...extra(id) })))
      .onConflict("task_id")
      .ignore();
  };

  return {
    taskState: (taskId) =>
      wrap("task state read", async () => {
        const row = (await states().where({ task_id: taskId }).first()) as Row | undefined;
        return row && toState(row);
      }),
    taskStates: () =>
      wrap("task state read", async () => {
        const rows = (await states().select("*")) as Row[];
        return new Map(rows.map((row) => [String(row.task_id), toState(row)]));
      }),
    watchTasks: (taskIds, at) =>
      wrap("task state write", async () => {
        const ms = at.getTime();
        await ensure(taskIds, ms, () => ({ watched_since: ms }));
        // A row made by pause() before any worker scheduled the task has no watch time yet.
        await states().whereIn("task_id", taskIds).whereNull("watched_since").update({ watched_since: ms, updated_at: ms });
      }),
    setPaused: (taskId, pause, at) =>
      wrap("task state write", async () => {
        const ms = at.getTime();
        await ensure([taskId], ms);
        const change: Row = pause
          ? { paused: true, paused_at: ms, paused_reason: pause.reason, updated_at: ms }
          : { paused: false, paused_at: null, paused_reason: null, watched_since: ms, updated_at: ms };
        // Resuming a task that is not paused changes nothing: it must not hide a missed tick.
        await states()
          .where({ task_id: taskId, ...(pause ? {} : { paused: true }) })
          .update(change);
      }),
    announce: (taskId, from, to) =>
      wrap("task state write", async () => {
        const q = states().where({ task_id: taskId });
        if (from === null) q.whereNull("announced");
        else q.where({ announced: from });
        return Number(await q.update({ announced: to, updated_at: Date.now() })) > 0;
      }),
  };
}

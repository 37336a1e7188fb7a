import type { Knex } from "knex";
import type { TaskEntry, UpkeepConfig } from "../../config.ts";
import { type RewrapResult, rewrapKeys } from "../../crypto/rewrap.ts";
import { ConfigError } from "../../errors.ts";
import type { Upkeep } from "../../register.ts";
import type { RunRecord } from "../../store/types.ts";
import { isTaskDefinition, type Progress } from "../../task.ts";
import { parseOrThrow } from "../../validate.ts";
import { type KeyRotationInput, keyRotationInput } from "./options.ts";
import { type KeysStatus, keysStatus } from "./status.ts";

/** The key-rotation task of a configuration, with its validated options. */
export interface KeyRotationSettings {
  /** The key-rotation task's id in the configuration. */
  taskId: string;
  /** The task's validated input, its defaults filled in. */
  input: KeyRotationInput;
  /** The configuration's knex instance. */
  db: Knex;
  /** Where `<prefix>keys` lives: the task's `tablePrefix`, else the configuration's. */
  tablePrefix: string;
}

/**
 * Finds the key-rotation task in a configuration (by id, `key-rotation` unless renamed) and
 * validates its options, as the `upkeep keys` commands need them.
 *
 * @throws {ConfigError} when there is no such task, no `db`, or its options are invalid.
 */
export function keyRotationSettings(config: UpkeepConfig, taskId = "key-rotation"): KeyRotationSettings {
  const entry = config.tasks
    .map((item): TaskEntry | undefined => (isTaskDefinition(item) ? { task: item } : (item as TaskEntry)))
    .find((item) => item?.task?.id === taskId);
  if (!entry) throw new ConfigError("no key-rotation task", [{ path: "tasks", message: `no task with id "${taskId}" is configured` }]);
  if (!config.db) throw new ConfigError("no database", [{ path: "db", message: "the keyring lives in the configured database" }]);
  const input = parseOrThrow(keyRotationInput, entry.input ?? entry.task.defaultInput ?? {}, `task ${taskId}`, `tasks.${taskId}.input`);
  return { taskId, input, db: config.db, tablePrefix: input.tablePrefix ?? config.tablePrefix ?? "upkeep_" };
}

/** `upkeep keys status`: the keyring, the active key's age and due date, rows per key per column. */
export function keysStatusOf(config: UpkeepConfig, options: { taskId?: string; now?: Date } = {}): Promise<KeysStatus> {
  const settings = keyRotationSettings(config, options.taskId);
  return keysStatus({
    db: settings.db,
    tablePrefix: settings.tablePrefix,
    columns: settings.input.columns,
    fernet: settings.input.fernet,
    maxAgeDays: settings.input.maxAgeDays,
    now: options.now ?? config.clock?.(),
  });
}

/**
 * `upkeep keys rotate`: runs the key-rotation task now with `force`, through the runner (history,
 * locking), reporting each batch to `onProgress`.
 */
export async function rotateKeysNow(
  upkeep: Upkeep,
  options: { taskId?: string; dryRun?: boolean; onProgress?: (progress: Progress) => void } = {},
): Promise<RunRecord> {
  const taskId = options.taskId ?? "key-rotation";
  const off = upkeep.on("run:progress", ({ run, progress }) => {
    if (run.taskId === taskId) options.onProgress?.(progress);
  });
  try {
    return await upkeep.run(taskId, { input: { force: true }, dryRun: options.dryRun });
  } finally {
    off();
  }
}

/**
 * `upkeep keys rewrap`: after a KEK rotation, re-wraps every data key under the configuration's
 * `crypto.kek`, unwrapping with `crypto.previousKeks` (or the key-rotation task's). Data rows are not touched.
 *
 * @throws {ConfigError} when the configuration names no KEK.
 */
export function rewrapConfiguredKeys(config: UpkeepConfig, options: { taskId?: string; dryRun?: boolean } = {}): Promise<RewrapResult> {
  const settings = keyRotationSettings(config, options.taskId);
  const kek = config.crypto?.kek ?? settings.input.kek;
  if (!kek)
    throw new ConfigError("no KEK", [
      { path: "crypto.kek", message: "upkeep keys rewrap wraps the keyring under the configuration's crypto.kek" },
    ]);
  const candidates = [...(config.crypto?.previousKeks ?? []), ...settings.input.previousKeks];
  if (settings.input.kek) candidates.push(settings.input.kek);
  const previousKeks = candidates.filter(
    (candidate, index, all) => candidate.id !== kek.id && all.findIndex((other) => other.id === candidate.id) === index,
  );
  return rewrapKeys({ db: settings.db, tablePrefix: settings.tablePrefix, kek, previousKeks, dryRun: options.dryRun });
}

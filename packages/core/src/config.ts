import type { Knex } from "knex";
import * as z from "zod";
import type { CryptoConfig } from "./crypto/crypto.ts";
import { kekSchema } from "./crypto/kek.ts";
import { type Duration, parseDuration } from "./duration.ts";
import type { UpkeepEventHandler, UpkeepEventName } from "./events.ts";
import type { Logger } from "./logger.ts";
import type { EventsConfig, EventTarget } from "./outbox.ts";
import type { RunStore } from "./store/types.ts";
import type { AnyTaskDefinition, OverlapPolicy } from "./task.ts";

/** A task with per-host overrides: its input, schedule, timezone and the rest. */
export interface TaskEntry {
  /** The task these overrides apply to: a built-in factory's or `defineTask`'s result. */
  task: AnyTaskDefinition;
  /** Replaces the task's default input; validated by the task's schema at registration. */
  input?: unknown;
  /**
   * Standard 5-field cron pattern replacing the task's own; an invalid one is a `ConfigError` at
   * `tasks.<id>.schedule`.
   * @default the task's schedule
   */
  schedule?: string;
  /**
   * IANA timezone the schedule is read in.
   * @default the task's timezone, else the configuration's `timezone`
   */
  timezone?: string;
  /**
   * Whether the task is scheduled. A disabled task can still be run by hand.
   * @default the task's `enabled` (true unless it says otherwise)
   */
  enabled?: boolean;
  /**
   * Longest one attempt may run; then `ctx.signal` aborts with reason `timeout`.
   * @default the task's timeout
   */
  timeout?: Duration;
  /**
   * What a tick does while a run of the same task is still going: `skip` records it as `skipped`,
   * `allow` lets the runs overlap.
   * @default the task's overlap policy
   */
  overlap?: OverlapPolicy;
  /**
   * Run the most recent missed tick at start-up when no run of it exists.
   * @default the task's `catchUp`
   */
  catchUp?: boolean;
  /**
   * How long after a tick its run may start before the task's health is `late`.
   * @default the smaller of 10 % of the tick's period and 10 minutes
   */
  grace?: Duration;
}

/** What `registerTasks` and the CLI take. Export one from `upkeep.config.ts` with `defineConfig`. */
export interface UpkeepConfig {
  /** The tasks to schedule: built-in factories, `defineTask` results, or entries with overrides. */
  tasks: ReadonlyArray<AnyTaskDefinition | TaskEntry>;
  /** The host's knex instance. Tasks get it as `ctx.db`; run history lives there unless `store` is set. */
  db?: Knex;
  /**
   * Where run history lives.
   * @default knexStore(db) when `db` is set, otherwise memoryStore()
   */
  store?: RunStore;
  /**
   * Prefix of every upkeep table.
   * @default "upkeep_"
   */
  tablePrefix?: string;
  /**
   * Timezone of tasks that name none.
   * @default "UTC"
   */
  timezone?: string;
  /**
   * Where upkeep logs; any pino-shaped logger.
   * @default JSON lines on stderr at info
   */
  logger?: Logger;
  /**
   * The clock behind `ctx.now()`, leases and tick computation. Inject one in tests.
   * @default () => new Date()
   */
  clock?: () => Date;
  /**
   * How long a run's lease lasts without renewal; the runner renews it every third of this. A run
   * whose process died is `abandoned` once its lease ends.
   * @default "30s"
   */
  lease?: Duration;
  /**
   * How long `stop()` waits for runs in flight when it is given no timeout.
   * @default "30s"
   */
  shutdownTimeout?: Duration;
  /**
   * How long to wait for a task that ignores its aborted signal before recording it timed out or
   * interrupted.
   * @default "5s"
   */
  abortGrace?: Duration;
  /**
   * Finished runs older than this are pruned from the history, at most once an hour; 0 keeps all.
   * @default "30d"
   */
  historyRetention?: Duration;
  /**
   * Apply upkeep's migrations on `start()` and before the first manual run. With `false`, run
   * `upkeep migrate` in the release step: `start()` then checks that the schema is current and
   * fails (`NOT_MIGRATED`) when it is not.
   * @default true
   */
  autoMigrate?: boolean;
  /**
   * How often a started instance checks every task's health and fires `task:late`, `task:missed`
   * and `task:recovered`; 0 turns the sweep off (`upkeep tick` still sweeps once per call).
   * @default "1m"
   */
  healthInterval?: Duration;
  /**
   * The events outbox: where events go besides the handlers (`targets`), and how long delivered
   * events are kept in `<prefix>events` (`retention`, default 90 days).
   */
  events?: EventsConfig;
  /** Event handlers, the same as calling `upkeep.on` for each. */
  on?: { [E in UpkeepEventName]?: UpkeepEventHandler<E> };
  /**
   * Envelope encryption for host code (`upkeep.crypto`), with the keyring in `<prefix>keys` of `db`:
   * `{ kek: envKek() }`. Give the key-rotation task the same KEK.
   */
  crypto?: CryptoConfig;
}

/** Each key of `C` that `UpkeepConfig` does not have, typed `never`: a misspelled key is a type error. */
export type NoExtraKeys<C> = { [K in Exclude<keyof C, keyof UpkeepConfig>]: never };

/**
 * Returns the config unchanged, typed: `export default defineConfig({ ... })`. A key the config
 * does not have (`tablePrefx`) is a type error here, and a `ConfigError` at registration.
 */
export function defineConfig<const C extends UpkeepConfig>(config: C & NoExtraKeys<C>): C {
  return config;
}

const duration = z.union([z.number(), z.string()]).refine((value) => parseDuration(value) !== undefined, {
  message: "expected milliseconds or a duration such as '30s', '15m', '1h', '90d'",
});
const fn = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", "expected a function");

/** Checks the shape of a config; task inputs and schedules are checked per task after this. */
export const configSchema = z
  .object({
    tasks: z.array(z.unknown()),
    db: z.custom<Knex>((value) => typeof value === "function" && "client" in (value as object), "expected a knex instance").optional(),
    store: z.custom<RunStore>((value) => typeof value === "object" && value !== null && "claim" in value, "expected a RunStore").optional(),
    tablePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,30}$/i, "expected letters, digits and '_', starting with a letter, at most 31 characters")
      .optional(),
    timezone: z.string().optional(),
    logger: z
      .custom<Logger>((value) => {
        if (typeof value !== "object" || value === null) return false;
        const logger = value as Record<string, unknown>;
        return ["debug", "info", "warn", "error"].every((level) => typeof logger[level] === "function");
      }, "expected a pino-shaped logger with debug, info, warn and error")
      .optional(),
    clock: fn.optional(),
    lease: duration.optional(),
    shutdownTimeout: duration.optional(),
    abortGrace: duration.optional(),
    historyRetention: duration.optional(),
    healthInterval: duration.optional(),
    autoMigrate: z.boolean().optional(),
    on: z.record(z.string(), fn).optional(),
    events: z
      .object({
        targets: z
          .array(
            z.custom<EventTarget>((value) => {
              if (typeof value !== "object" || value === null) return false;
              const target = value as Record<string, unknown>;
              return typeof target.name === "string" && typeof target.accept === "function";
            }, "expected an event target with a name and an accept function"),
          )
          .optional(),
        retention: duration.optional(),
      })
      .strict()
      .optional(),
    crypto: z
      .object({
        kek: kekSchema,
        previousKeks: z.array(kekSchema).optional(),
        cacheFor: duration.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

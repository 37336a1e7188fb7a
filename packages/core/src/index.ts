export type { Adapter, AdapterCapabilities, AdapterContext, AdapterFactory, ScheduledJob, Trigger } from "./adapter.ts";
export { defineConfig, type TaskEntry, type UpkeepConfig } from "./config.ts";
export { dialectOf, type SqlDialect } from "./db.ts";
export { type Duration, parseDuration } from "./duration.ts";
export {
  AdapterError,
  ConfigError,
  type ConfigIssue,
  errorMessage,
  TaskError,
  type TaskErrorOptions,
  UpkeepError,
  type UpkeepErrorCode,
} from "./errors.ts";
export type { UpkeepEventHandler, UpkeepEventName, UpkeepEvents } from "./events.ts";
export {
  childLogger,
  createJsonLogger,
  type JsonLoggerOptions,
  type LogFields,
  type Logger,
  type LogLevel,
  silentLogger,
} from "./logger.ts";
export { type ManualAdapter, manualAdapter } from "./manual-adapter.ts";
export { type DueTick, type RunOptions, registerTasks, type TaskInfo, type Upkeep } from "./register.ts";
export { createSchedule, isValidTimezone, type Schedule, type ScheduleOptions, SECOND_TICKS, scheduleProblem } from "./schedule.ts";
export { isUniqueViolation, type KnexStoreOptions, knexStore } from "./store/knex-store.ts";
export { memoryStore } from "./store/memory-store.ts";
export { MIGRATIONS, migrate, type UpkeepMigration } from "./store/migrations.ts";
export {
  type ClaimResult,
  claimKey,
  type NewRun,
  type RunOutcome,
  type RunQuery,
  type RunRecord,
  type RunStatus,
  type RunStore,
} from "./store/types.ts";
export {
  type AnyTaskDefinition,
  defineTask,
  isTaskDefinition,
  type OverlapPolicy,
  type Progress,
  type RetryPolicy,
  type RunTrigger,
  type TaskContext,
  type TaskDefinition,
  type TaskEvent,
  type TaskOptions,
} from "./task.ts";
export type { AccountId } from "./tasks/billing-sync/accounts.ts";
export type { GuardVerdict } from "./tasks/billing-sync/guard.ts";
export type { BillingAccountsOptions, BillingGuardOptions, BillingSyncOptions } from "./tasks/billing-sync/options.ts";
export type { StripeClient, StripeSubscriptionLike, SubscriptionListParams } from "./tasks/billing-sync/stripe-client.ts";
export { type BillingChangeReport, type BillingSyncResult, billingSyncTask } from "./tasks/billing-sync/task.ts";

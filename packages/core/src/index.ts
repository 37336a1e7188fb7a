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
export { type RunOptions, registerTasks, type TaskInfo, type Upkeep } from "./register.ts";
export { createSchedule, isValidTimezone, type Schedule, scheduleProblem } from "./schedule.ts";
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
export { BUILTIN_ALLOWLIST } from "./tasks/ioc-ingest/allowlist.ts";
export { type IocCheckResult, type IocStats, iocCheck, iocStats } from "./tasks/ioc-ingest/inspect.ts";
export type { IndicatorRow, IocMatch, MatchIndexSize } from "./tasks/ioc-ingest/match-index.ts";
export { createMatcher, type Matcher, type MatcherOptions } from "./tasks/ioc-ingest/matcher.ts";
export { type Indicator, type IndicatorKind, normalise as normaliseIndicator, refang } from "./tasks/ioc-ingest/normalise.ts";
export type { FeedOptions, HeaderValue, IocIngestOptions } from "./tasks/ioc-ingest/options.ts";
export type { CsvMapping, FeedFormat } from "./tasks/ioc-ingest/parsers.ts";
export { type FeedReport, type IocIngestResult, iocIngestTask } from "./tasks/ioc-ingest/task.ts";

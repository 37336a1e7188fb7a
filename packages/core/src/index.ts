/**
 * The task model, the runner, the run stores and the built-in maintenance tasks.
 * @module @upkeep/core
 */
export type { Adapter, AdapterCapabilities, AdapterContext, AdapterFactory, ScheduledJob, Trigger } from "./adapter.ts";
export { type AdapterDependency, adapterDependency } from "./adapter-dependencies.ts";
export { defineConfig, type TaskEntry, type UpkeepConfig } from "./config.ts";
export {
  type CryptoCallOptions,
  type CryptoConfig,
  type CryptoOptions,
  createCrypto,
  type RetireOptions,
  type RotateOptions,
  rowAad,
  type UpkeepCrypto,
} from "./crypto/crypto.ts";
export { ENVELOPE_VERSION, envelopePrefix, keyIdOf } from "./crypto/envelope.ts";
export {
  decodeFernetKey,
  FERNET_MAX_CLOCK_SKEW_SECONDS,
  type Fernet,
  type FernetDecryptOptions,
  fernet,
  generateFernetKey,
  type MultiFernet,
  multiFernet,
} from "./crypto/fernet.ts";
export { envKek, type KekContext, type KekProvider, type LocalKekOptions, localKek } from "./crypto/kek.ts";
export type { KeyInfo } from "./crypto/keyring.ts";
export { type RewrapOptions, type RewrapResult, rewrapKeys } from "./crypto/rewrap.ts";
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
export type { DeliveryState } from "./events/deliveries.ts";
export {
  type WebhookFilter,
  type WebhookRedeliverOptions,
  type WebhookRedeliverReport,
  type WebhookRetryOptions,
  type WebhookSendReport,
  type WebhookTarget,
  type WebhookTargetOptions,
  webhookTarget,
} from "./events/webhook.ts";
export type { TaskHealthEvent, UpkeepEventHandler, UpkeepEventName, UpkeepEvents } from "./events.ts";
export { type HealthState, type TaskHealth, UNHEALTHY_STATES } from "./health.ts";
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
export type { EventsConfig, EventTarget, UpkeepEventsHandle } from "./outbox.ts";
export { type DueTick, type PauseOptions, type RunOptions, registerTasks, type TaskInfo, type Upkeep } from "./register.ts";
export { createSchedule, isValidTimezone, type Schedule, type ScheduleOptions, SECOND_TICKS, scheduleProblem } from "./schedule.ts";
export type { StopOnSignalsOptions } from "./stop-on-signals.ts";
export type { EventLease, EventQuery, EventRecord, EventState, EventStore, StoredEvent } from "./store/event-types.ts";
export { isUniqueViolation, type KnexStoreOptions, knexStore, runFromRow } from "./store/knex-store.ts";
export { memoryStore } from "./store/memory-store.ts";
export { type MigrateOptions, migrate, pendingMigrations } from "./store/migrate.ts";
export { MIGRATIONS, type UpkeepMigration } from "./store/migrations.ts";
export {
  asSeenAt,
  type ClaimOptions,
  type ClaimResult,
  claimKey,
  type NewRun,
  type RunOutcome,
  type RunQuery,
  type RunRecord,
  type RunStatus,
  type RunStore,
  type TaskState,
} from "./store/types.ts";
export {
  type AnyTaskDefinition,
  defineTask,
  type EmitOptions,
  isTaskDefinition,
  type OverlapPolicy,
  type Progress,
  type RetryPolicy,
  type RunTrigger,
  type TaskContext,
  type TaskDefinition,
  type TaskEvent,
  type TaskOptions,
  type TaskVerifyContext,
} from "./task.ts";
export type { AccountId } from "./tasks/billing-sync/accounts.ts";
export type { GuardVerdict } from "./tasks/billing-sync/guard.ts";
export type {
  BillingAccountsOptions,
  BillingGuardOptions,
  BillingNeverDowngradeOptions,
  BillingSyncOptions,
} from "./tasks/billing-sync/options.ts";
export type {
  StripeClient,
  StripeInvoiceLike,
  StripePriceLike,
  StripeSubscriptionLike,
  SubscriptionListParams,
} from "./tasks/billing-sync/stripe-client.ts";
export { type BillingChangeReport, type BillingSyncResult, billingSyncTask } from "./tasks/billing-sync/task.ts";
export * from "./tasks/cleanup/index.ts";
export type { LockedPackage, Lockfile } from "./tasks/dependency-audit/lock-graph.ts";
export { LOCKFILE_NAMES, readLockfile } from "./tasks/dependency-audit/lockfile.ts";
export type {
  AuditIgnore,
  AuditRegistryOptions,
  DependencyAuditInput,
  DependencyAuditOptions,
  FindingKind,
  Severity,
} from "./tasks/dependency-audit/options.ts";
export type { AuditFinding } from "./tasks/dependency-audit/store.ts";
export { type DependencyAuditResult, dependencyAuditTask, type FixedFinding } from "./tasks/dependency-audit/task.ts";
export { type HeartbeatHealth, heartbeatStatus } from "./tasks/heartbeats/heartbeat-status.ts";
export type {
  HeartbeatColumns,
  HeartbeatStatuses,
  HeartbeatsInput,
  HeartbeatsOptions,
  HeartbeatTableOptions,
} from "./tasks/heartbeats/options.ts";
export type { OverdueToken } from "./tasks/heartbeats/pass.ts";
export { type RecordHeartbeatOptions, recordHeartbeat } from "./tasks/heartbeats/record-heartbeat.ts";
export { type HeartbeatsResult, heartbeatsTask } from "./tasks/heartbeats/task.ts";
export { BUILTIN_ALLOWLIST } from "./tasks/ioc-ingest/allowlist.ts";
export { type IocCheckResult, type IocStats, iocCheck, iocStats } from "./tasks/ioc-ingest/inspect.ts";
export type { IndicatorRow, IocMatch, MatchIndexSize } from "./tasks/ioc-ingest/match-index.ts";
export { createMatcher, type Matcher, type MatcherOptions } from "./tasks/ioc-ingest/matcher.ts";
export { type Indicator, type IndicatorKind, normalise as normaliseIndicator, refang } from "./tasks/ioc-ingest/normalise.ts";
export type { FeedOptions, HeaderValue, IocIngestOptions } from "./tasks/ioc-ingest/options.ts";
export type { CsvMapping, FeedFormat } from "./tasks/ioc-ingest/parsers.ts";
export { type FeedReport, type IocIngestResult, iocIngestTask } from "./tasks/ioc-ingest/task.ts";
export {
  type KeyRotationSettings,
  keyRotationSettings,
  keysStatusOf,
  rewrapConfiguredKeys,
  rotateKeysNow,
} from "./tasks/key-rotation/commands.ts";
export type {
  AadFunction,
  EncryptedColumnOptions,
  FernetColumnOptions,
  KeyRotationInput,
  KeyRotationOptions,
} from "./tasks/key-rotation/options.ts";
export { type ColumnKeyCounts, type KeysStatus, type KeysStatusOptions, keysStatus } from "./tasks/key-rotation/status.ts";
export { type ColumnRotation, type KeyRotationResult, keyRotationTask } from "./tasks/key-rotation/task.ts";
export { type LogisticModel, type ThreatClassifierOptions, threatClassifier } from "./tasks/training/classifier.ts";
export { type CommandTrainerOptions, commandTrainer } from "./tasks/training/command-trainer.ts";
export {
  type ForecastModel,
  type ForecastPoint,
  type SlaForecasterOptions,
  type SmoothingState,
  slaForecaster,
} from "./tasks/training/forecaster.ts";
export { type LoadedModel, type LoadModelOptions, listModels, loadModel } from "./tasks/training/load-model.ts";
export type { ThresholdRule } from "./tasks/training/metrics.ts";
export type { TelemetrySource, TrainingOptions } from "./tasks/training/options.ts";
export { type PromotionDecision, type PromotionMargin, promotionDecision } from "./tasks/training/promotion.ts";
export type { StoredModel } from "./tasks/training/registry.ts";
export type {
  ChampionScore,
  ClientRow,
  HoldoutInfo,
  ModelArtifact,
  PromotionMetric,
  SeriesPoint,
  TrainedModel,
  Trainer,
  TrainerContext,
  TrainerResult,
  TrainingDataset,
} from "./tasks/training/trainer.ts";
export { type TrainedModelSummary, type TrainingResult, trainingTask } from "./tasks/training/training-task.ts";

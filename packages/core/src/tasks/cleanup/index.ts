export { type CleanupCheck, checkCleanupPolicies } from "./check.ts";
export type { FlagColumn, FlagKind } from "./flags.ts";
export type {
  AgedTable,
  AuthPresetOptions,
  CleanupInput,
  CleanupOptions,
  CleanupPolicy,
  CleanupSink,
  CleanupWhere,
  ExpiringTable,
  PlatformPresetOptions,
  SinkBatch,
  TimeFormat,
  WhereContext,
} from "./options.ts";
export { PLATFORM_PROTECTED_TABLES } from "./presets.ts";
export type { PolicyResult } from "./run-policy.ts";
export { type CleanupResult, cleanupTask } from "./task.ts";

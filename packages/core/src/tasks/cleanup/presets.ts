import type { Duration } from "../../duration.ts";
import { type FlagColumn, type FlagUse, flagUse } from "./flags.ts";
import type { AuthPresetOptions, CleanupPolicy, PlatformPresetOptions, SelectionWhere, TimeFormat } from "./options.ts";

/** A policy a preset contributes, with where it came from and the columns its `where` uses. */
export interface PresetPolicy {
  path: (string | number)[];
  /** A preset's `where` also gets the conditions on its flag columns. */
  policy: Omit<CleanupPolicy, "where"> & { where?: string | SelectionWhere };
  /** Flag columns the `where` reads, their kind decided from the catalog before a run. */
  flags: FlagUse[];
  /** Columns used inside the preset's `where` function, checked to exist like `column`. */
  columns: string[];
  /** Timestamp columns the selection filters on, warned about when unindexed. */
  timeColumns: string[];
}

/** High-value tables the platform preset protects unless its `protectedTables` says otherwise. */
export const PLATFORM_PROTECTED_TABLES: readonly string[] = [
  "accounts",
  "users",
  "tenants",
  "organizations",
  "subscriptions",
  "invoices",
  "payments",
  "api_keys",
  "agent_tokens",
  "upkeep_runs",
  "upkeep_keys",
];

const on = <T extends object>(value: false | T | undefined): T | undefined => (value === false ? undefined : (value ?? ({} as T)));

type Settings = { table?: string; primaryKey?: string; batchSize?: number; column?: string; olderThan?: Duration | null };

/** One preset policy from its settings and defaults; `extra` adds the action, where or dedupe. */
function presetPolicy(
  preset: "auth" | "platform",
  key: string,
  settings: Settings,
  defaults: { table: string; column?: string; olderThan?: Duration; timeFormat?: TimeFormat },
  extra: Partial<PresetPolicy["policy"]> & { columns?: string[]; timeColumns?: string[]; flags?: FlagUse[] } = {},
): PresetPolicy {
  const { columns = [], timeColumns = [], flags = [], ...policy } = extra;
  const aged = defaults.column
    ? { column: settings.column ?? defaults.column, olderThan: settings.olderThan === undefined ? defaults.olderThan : settings.olderThan }
    : {};
  return {
    path: [preset, key],
    policy: {
      name: `${preset}.${key}`,
      table: settings.table ?? defaults.table,
      primaryKey: settings.primaryKey,
      batchSize: settings.batchSize,
      timeFormat: defaults.timeFormat,
      ...aged,
      ...policy,
    },
    flags,
    columns,
    timeColumns,
  };
}

/** Policies of the auth preset: expired tokens, links and codes, old login attempts and audit logs. */
export function authPresetPolicies(options: boolean | AuthPresetOptions | undefined): PresetPolicy[] {
  if (!options) return [];
  const preset = options === true ? {} : options;
  const timeFormat: TimeFormat = preset.timeFormat ?? "date";
  const out: PresetPolicy[] = [];

  const expiring = (
    key: keyof AuthPresetOptions,
    table: string,
    settings: { table?: string; primaryKey?: string; batchSize?: number; expiresColumn?: string } | undefined,
    orSet?: { field: string; column: FlagColumn },
  ) => {
    if (!settings) return;
    const expires = settings.expiresColumn ?? "expires_at";
    const flag = orSet && flagUse(["auth", key, orSet.field], orSet.column);
    out.push(
      presetPolicy(
        "auth",
        key,
        settings,
        { table, timeFormat },
        {
          where: (q, { now, time, isSet }) => {
            q.where(expires, "<", time(now));
            if (flag) q.orWhere((set) => isSet(set, flag.column));
          },
          columns: [expires],
          timeColumns: [expires],
          flags: flag ? [flag] : [],
        },
      ),
    );
  };
  expiring("blacklistedTokens", "blacklisted_tokens", on(preset.blacklistedTokens));
  expiring("magicLinks", "magic_links", on(preset.magicLinks));
  const otp = on(preset.otpCodes);
  const otpUsed = otp && otp.delete !== "expired" ? { field: "usedColumn", column: otp.usedColumn ?? "used_at" } : undefined;
  expiring("otpCodes", "otp_codes", otp, otpUsed);
  const refresh = on(preset.refreshTokens);
  expiring(
    "refreshTokens",
    "refresh_tokens",
    refresh,
    refresh && { field: "revokedColumn", column: refresh.revokedColumn ?? "revoked_at" },
  );

  const aged = (key: "loginAttempts" | "auditLogs", table: string, olderThan: Duration) => {
    const settings = on(preset[key]);
    if (settings) out.push(presetPolicy("auth", key, settings, { table, column: "created_at", olderThan, timeFormat }));
  };
  aged("loginAttempts", "login_attempts", "90d");
  aged("auditLogs", "audit_logs", "365d");
  return out;
}

/** Policies of the platform preset: 30-day telemetry, audit and consent, the outbox, duplicate threat intel. */
export function platformPresetPolicies(options: boolean | PlatformPresetOptions | undefined): PresetPolicy[] {
  if (!options) return [];
  const preset = options === true ? {} : options;
  const timeFormat: TimeFormat = preset.timeFormat ?? "date";
  const out: PresetPolicy[] = [];

  for (const [key, table] of [
    ["telemetry", "endpoint_telemetry"],
    ["auditLogs", "audit_logs"],
    ["consentRecords", "cookie_consents"],
  ] as const) {
    const settings = on(preset[key]);
    if (settings) out.push(presetPolicy("platform", key, settings, { table, column: "created_at", olderThan: "30d", timeFormat }));
  }

  const published = on(preset.outboxPublished);
  if (published) {
    const defaults = { table: "outbox_events", column: "published_at", olderThan: "30d", timeFormat } as const;
    const archive = published.archive ?? { table: "outbox_events_archive" };
    out.push(presetPolicy("platform", "outboxPublished", published, defaults, { action: "archive", archive }));
  }

  const dead = on(preset.outboxDeadLetters);
  if (dead) {
    const publishedFlag = flagUse(["platform", "outboxDeadLetters", "publishedColumn"], dead.publishedColumn ?? "published_at");
    const attemptsColumn = dead.attemptsColumn ?? "attempts";
    const maxAttempts = dead.maxAttempts ?? 10;
    const defaults = { table: "outbox_events", column: "created_at", olderThan: "7d", timeFormat } as const;
    out.push(
      presetPolicy("platform", "outboxDeadLetters", dead, defaults, {
        where: (q, { isUnset }) => {
          isUnset(q, publishedFlag.column).andWhere(attemptsColumn, ">=", maxAttempts);
        },
        columns: [attemptsColumn],
        flags: [publishedFlag],
      }),
    );
  }

  const dupes = on(preset.threatIntelDuplicates);
  if (dupes) {
    const dedupe = { key: dupes.key ?? ["type", "value"], keep: dupes.keep, orderBy: dupes.orderBy };
    out.push(presetPolicy("platform", "threatIntelDuplicates", dupes, { table: "threat_indicators" }, { action: "dedupe", dedupe }));
  }
  return out;
}

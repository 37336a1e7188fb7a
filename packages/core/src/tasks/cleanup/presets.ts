import type { Duration } from "../../duration.ts";
import type { AuthPresetOptions, CleanupPolicy, PlatformPresetOptions, TimeFormat } from "./options.ts";

/** A policy a preset contributes, with where it came from and the columns its `where` uses. */
export interface PresetPolicy {
  path: (string | number)[];
  policy: CleanupPolicy;
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
  extra: Partial<CleanupPolicy> & { columns?: string[]; timeColumns?: string[] } = {},
): PresetPolicy {
  const { columns = [], timeColumns = [], ...policy } = extra;
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
    orNotNull?: string,
  ) => {
    if (!settings) return;
    const expires = settings.expiresColumn ?? "expires_at";
    out.push(
      presetPolicy(
        "auth",
        key,
        settings,
        { table, timeFormat },
        {
          where: (q, { now, time }) => {
            q.where(expires, "<", time(now));
            if (orNotNull) q.orWhereNotNull(orNotNull);
          },
          columns: orNotNull ? [expires, orNotNull] : [expires],
          timeColumns: [expires],
        },
      ),
    );
  };
  expiring("blacklistedTokens", "blacklisted_tokens", on(preset.blacklistedTokens));
  expiring("magicLinks", "magic_links", on(preset.magicLinks));
  const otp = on(preset.otpCodes);
  expiring("otpCodes", "otp_codes", otp, otp ? (otp.usedColumn ?? "used_at") : undefined);
  const refresh = on(preset.refreshTokens);
  expiring("refreshTokens", "refresh_tokens", refresh, refresh ? (refresh.revokedColumn ?? "revoked_at") : undefined);

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
    const publishedColumn = dead.publishedColumn ?? "published_at";
    const attemptsColumn = dead.attemptsColumn ?? "attempts";
    const maxAttempts = dead.maxAttempts ?? 10;
    const defaults = { table: "outbox_events", column: "created_at", olderThan: "7d", timeFormat } as const;
    out.push(
      presetPolicy("platform", "outboxDeadLetters", dead, defaults, {
        where: (q) => {
          q.whereNull(publishedColumn).andWhere(attemptsColumn, ">=", maxAttempts);
        },
        columns: [publishedColumn, attemptsColumn],
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

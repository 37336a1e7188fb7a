import { describe, expect, it } from "vitest";
import { ConfigError } from "../../errors.ts";
import { manualAdapter } from "../../manual-adapter.ts";
import { registerTasks } from "../../register.ts";
import type { CleanupInput, CleanupOptions } from "./options.ts";
import { policyIssues, resolvePolicies } from "./policies.ts";
import { nextSize } from "./run-policy.ts";
import { cleanupTask } from "./task.ts";

const issuesOf = (input: CleanupInput) => policyIssues(input).map((issue) => `${issue.path.join(".")}: ${issue.message}`);

describe("cleanup options", () => {
  it("registers with id cleanup at 03:00 daily unless overridden", () => {
    const task = cleanupTask();
    expect([task.id, task.schedule]).toEqual(["cleanup", "0 3 * * *"]);
    const custom = cleanupTask({ id: "retention", schedule: "30 4 * * *", timezone: "Europe/Berlin" });
    expect([custom.id, custom.schedule, custom.timezone]).toEqual(["retention", "30 4 * * *", "Europe/Berlin"]);
  });

  it("names each bad field under tasks.cleanup.input without echoing values", () => {
    const options = {
      policies: [{ table: "bad table; drop", column: "created_at", olderThan: "ninety days" }],
      batchSize: 0,
      concurrency: 0,
    } as unknown as CleanupOptions;
    let error: unknown;
    try {
      registerTasks(manualAdapter(), { tasks: [cleanupTask(options)] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain("tasks.cleanup.input.policies.0.table");
    expect(message).toContain("tasks.cleanup.input.policies.0.olderThan");
    expect(message).toContain("tasks.cleanup.input.batchSize");
    expect(message).toContain("tasks.cleanup.input.concurrency");
    expect(message).not.toContain("drop");
    expect(message).not.toContain("ninety");
  });

  it("requires the companions of each field and refuses a policy matching every row", () => {
    expect(
      issuesOf({
        policies: [
          { table: "a", olderThan: "30d" },
          { table: "b", column: "created_at" },
          { table: "c", column: "created_at", olderThan: "1d", action: "archive" },
          { table: "d", action: "dedupe" },
          { table: "e" },
          { table: "f", column: "t", olderThan: "1d", action: "archive", archive: { table: "f" } },
          { table: "e", where: "x = 1" },
        ],
      }),
    ).toEqual([
      "policies.0.column: required with olderThan",
      "policies.0: give column + olderThan, or where: a policy matching every row is refused",
      "policies.1.olderThan: required with column (0 or null keeps rows forever)",
      "policies.1: give column + olderThan, or where: a policy matching every row is refused",
      "policies.2.archive: required when action is 'archive'",
      "policies.3.dedupe: required when action is 'dedupe'",
      "policies.4: give column + olderThan, or where: a policy matching every row is refused",
      "policies.5.archive.table: must differ from the policy's table",
      'policies.6.name: duplicate policy name "e": name each policy',
    ]);
  });

  it("applies preset defaults and honours overridden table and column names", () => {
    const policies = resolvePolicies({
      auth: { magicLinks: false, otpCodes: { table: "one_time_codes", usedColumn: "consumed_at" }, auditLogs: { olderThan: "400d" } },
    });
    expect(policies.map((policy) => policy.name)).toEqual([
      "auth.blacklistedTokens",
      "auth.otpCodes",
      "auth.refreshTokens",
      "auth.loginAttempts",
      "auth.auditLogs",
    ]);
    const otp = policies[1];
    expect(otp?.table).toBe("one_time_codes");
    expect(otp?.extraColumns).toEqual(["expires_at"]);
    expect(otp?.flags).toEqual([{ path: ["auth", "otpCodes", "usedColumn"], column: "consumed_at", kind: undefined }]);
    expect(policies[3]?.age).toEqual({ column: "created_at", olderThanMs: 90 * 86_400_000 });
    expect(policies[4]?.age).toEqual({ column: "created_at", olderThanMs: 400 * 86_400_000 });
  });

  it("treats 0 and null as keep forever, and floors never refuse a policy that keeps forever", () => {
    const input: CleanupInput = {
      floors: { audit_logs: "90d" },
      policies: [
        { table: "audit_logs", column: "created_at", olderThan: 0 },
        { name: "logs2", table: "audit_logs", column: "created_at", olderThan: null },
        { name: "logs3", table: "audit_logs", column: "created_at", olderThan: "0d" },
      ],
    };
    expect(resolvePolicies(input).map((policy) => policy.keepForever)).toEqual([true, true, true]);
    expect(issuesOf(input)).toEqual([]);
  });

  it("protects the platform preset's high-value tables, and lets the host replace that list", () => {
    const onAccounts: CleanupInput["policies"] = [{ table: "accounts", column: "created_at", olderThan: "30d" }];
    expect(issuesOf({ platform: true, policies: onAccounts })).toEqual([
      'policies.0.table: table "accounts" is protected: no cleanup policy may touch it',
    ]);
    expect(issuesOf({ platform: { protectedTables: ["ledger"] }, policies: onAccounts })).toEqual([]);
  });
});

describe("adaptive batch size", () => {
  const options = { batchTimeMs: 100, maxBatchSize: 8000 };
  it("scales by the measured rate toward 3/4 of the target, keeps a size in band, and is capped", () => {
    expect(nextSize(1000, 25, options)).toBe(3000); // 1000 rows in 25 ms: 3000 take about 75 ms
    expect(nextSize(1000, 150, options)).toBe(500);
    expect(nextSize(1000, 70, options)).toBe(1000);
    expect(nextSize(6000, 10, options)).toBe(8000);
    expect(nextSize(1, 500, options)).toBe(1);
  });
  it("grows at most 4x and shrinks at most 8x per batch", () => {
    const wide = { batchTimeMs: 100, maxBatchSize: 1_000_000 };
    expect(nextSize(1000, 1, wide)).toBe(4000);
    expect(nextSize(1000, 0, wide)).toBe(4000);
    expect(nextSize(8000, 5000, wide)).toBe(1000);
  });
  it("keeps the size fixed when batchTime is 0", () => {
    expect(nextSize(1000, 1, { batchTimeMs: 0, maxBatchSize: 8000 })).toBe(1000);
  });
});

import { describe, expect, it } from "vitest";
import { ConfigError } from "../../errors.ts";
import { manualAdapter } from "../../manual-adapter.ts";
import { registerTasks } from "../../register.ts";
import { heartbeatStatus, toEpochMs } from "./heartbeat-status.ts";
import { heartbeatsTask } from "./task.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const token = (fields: Record<string, unknown>) => ({
  status: "ACTIVE",
  heartbeat_required_every: 60,
  last_heartbeat_at: null,
  created_at: new Date("2026-01-01T00:00:00Z"),
  ...fields,
});

describe("heartbeatsTask", () => {
  it("has the id and schedule of the design, both overridable", () => {
    expect(heartbeatsTask()).toMatchObject({ id: "heartbeats", schedule: "* * * * *" });
    expect(heartbeatsTask({ id: "agent-heartbeats", schedule: "*/5 * * * *", timezone: "Europe/Paris" })).toMatchObject({
      id: "agent-heartbeats",
      schedule: "*/5 * * * *",
      timezone: "Europe/Paris",
    });
  });

  it("rejects invalid options at registration naming the field path, never the value", () => {
    const register = () =>
      registerTasks(manualAdapter(), {
        tasks: [heartbeatsTask({ columns: { status: "status; drop table x" }, grace: "soon" as "1s", batchSize: 0 })],
      });
    expect(register).toThrow(ConfigError);
    try {
      register();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain("tasks.heartbeats.input.columns.status");
      expect(message).toContain("tasks.heartbeats.input.grace");
      expect(message).toContain("tasks.heartbeats.input.batchSize");
      expect(message).not.toContain("drop table");
      expect(message).not.toContain("soon");
    }
  });

  it("refuses registration naming the task when the configuration has no database (it was a failed run)", () => {
    expect(() => registerTasks(manualAdapter(), { tasks: [heartbeatsTask()], logger: silent })).toThrow(
      /tasks\.heartbeats: the heartbeats task needs the host's database: set db in the configuration/,
    );
  });
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe("heartbeatStatus", () => {
  it("is up until the period has passed, exactly at it included", () => {
    expect(heartbeatStatus(token({ last_heartbeat_at: new Date(NOW.getTime() - 60_000) }), NOW)).toBe("up");
    expect(heartbeatStatus(token({ last_heartbeat_at: new Date(NOW.getTime() - 60_001) }), NOW)).toBe("down");
  });

  it("is late past the period but within grace", () => {
    const row = token({ last_heartbeat_at: new Date(NOW.getTime() - 70_000) });
    expect(heartbeatStatus(row, NOW, { grace: "15s" })).toBe("late");
    expect(heartbeatStatus(row, NOW, { grace: "5s" })).toBe("down");
  });

  it("counts from creation when there was no heartbeat", () => {
    expect(heartbeatStatus(token({ created_at: new Date(NOW.getTime() - 30_000) }), NOW)).toBe("up");
    expect(heartbeatStatus(token({}), NOW)).toBe("down");
  });

  it("is down for a token that is not active and up for one that needs no heartbeat", () => {
    expect(heartbeatStatus(token({ status: "SUSPENDED", last_heartbeat_at: NOW }), NOW)).toBe("down");
    expect(heartbeatStatus(token({ status: "REVOKED", last_heartbeat_at: NOW }), NOW)).toBe("down");
    expect(heartbeatStatus(token({ heartbeat_required_every: null }), NOW)).toBe("up");
  });

  it("reads custom column and status names", () => {
    const row = { state: "on", every_s: "60", seen: "2026-03-01 11:59:30" };
    const options = {
      columns: { status: "state", heartbeatRequiredEvery: "every_s", lastHeartbeatAt: "seen" },
      statuses: { active: "on" },
    };
    expect(heartbeatStatus(row, NOW, options)).toBe("up");
    expect(heartbeatStatus({ ...row, state: "paused" }, NOW, options)).toBe("down");
  });
});

describe("toEpochMs", () => {
  it("reads Dates, epoch milliseconds and ISO text, zone-less text as UTC", () => {
    const ms = NOW.getTime();
    expect(toEpochMs(NOW)).toBe(ms);
    expect(toEpochMs(ms)).toBe(ms);
    expect(toEpochMs(BigInt(ms))).toBe(ms);
    expect(toEpochMs(String(ms))).toBe(ms);
    expect(toEpochMs("2026-03-01T12:00:00.000Z")).toBe(ms);
    expect(toEpochMs("2026-03-01 12:00:00")).toBe(ms);
    expect(toEpochMs("2026-03-01T14:00:00+02:00")).toBe(ms);
    expect(toEpochMs("not a date")).toBeUndefined();
    expect(toEpochMs(null)).toBeUndefined();
  });
});

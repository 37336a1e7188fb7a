import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { defineTask, manualAdapter, registerTasks, silentLogger, TaskError } from "@upkeep/core";
import { BUILT_IN_FIGURES, upkeepMetrics } from "@upkeep/core/metrics";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Prometheus metrics scraped over real HTTP from real runs, and one OpenTelemetry span per run seen
// through the SDK's in-memory exporter.
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

const T0 = new Date("2026-03-02T01:00:00Z");
let prefixes = 0;
let failNext = false;
const report = defineTask({
  id: "report",
  schedule: "0 * * * *",
  run: () => {
    if (failNext) throw new TaskError("the report failed on purpose", { reason: "FIXTURE" });
    return { sent: 3 };
  },
});

for (const { dialect, available } of await probeDialects()) {
  if (dialect === "mariadb") continue;
  describe.skipIf(!available)(`metrics and traces on ${dialect}`, () => {
    let database: TestDatabase;
    let server: Server | undefined;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      server?.close();
      await database?.destroy();
    });

    function host() {
      const clock = { now: T0 };
      const adapter = manualAdapter();
      const upkeep = registerTasks(adapter, {
        tasks: [report],
        db: database.knex,
        tablePrefix: `o${++prefixes}_`,
        logger: silentLogger,
        clock: () => clock.now,
        healthInterval: 0,
      });
      return { adapter, upkeep, clock };
    }

    it("serves runs by status, durations, last success, health state and a task's own figures at /metrics", async () => {
      const { adapter, upkeep } = host();
      const registry = new Registry();
      const metrics = upkeepMetrics(upkeep, {
        registry,
        figures: {
          report: (result) => [
            { name: "report_mails_sent_total", help: "Mails sent", kind: "counter", value: (result as { sent: number }).sent },
          ],
        },
      });
      await upkeep.start();
      await adapter.fire("report", T0);
      await adapter.fire("report", new Date("2026-03-02T02:00:00Z"));
      failNext = true;
      try {
        await upkeep.run("report");
      } finally {
        failNext = false;
      }
      server = createServer((request, response) => metrics.handler(request, response));
      await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/plain");
      const body = await response.text();
      expect(body).toContain('upkeep_runs_total{task="report",status="succeeded",trigger="schedule"} 2');
      expect(body).toContain('upkeep_runs_total{task="report",status="failed",trigger="manual"} 1');
      expect(body).toMatch(/upkeep_run_duration_seconds_count\{task="report",status="succeeded"\} 2/);
      expect(body).toContain('upkeep_task_health{task="report",state="up"} 1');
      expect(body).toContain('upkeep_task_health{task="report",state="failing"} 0');
      expect(body).toContain('upkeep_task_consecutive_failures{task="report"} 0');
      expect(body).toMatch(/upkeep_task_last_success_timestamp_seconds\{task="report"\} 177\d{7}/);
      // Only the two succeeded runs returned a result the figure reads.
      expect(body).toContain('upkeep_report_mails_sent_total{task="report"} 6');
      metrics.close();
      expect((await registry.metrics()).trim()).toBe("");
      await upkeep.stop();
    });

    it("answers 503 without the cause when the store cannot be read", async () => {
      const { upkeep } = host();
      const metrics = upkeepMetrics(upkeep);
      const local = createServer((request, response) => metrics.handler(request, response));
      await new Promise<void>((resolve) => local.listen(0, "127.0.0.1", resolve));
      // Never migrated: the health gauges cannot read the task state.
      const response = await fetch(`http://127.0.0.1:${(local.address() as AddressInfo).port}/metrics`);
      expect(response.status).toBe(503);
      expect(await response.text()).toBe("upkeep metrics unavailable: the run store could not be read\n");
      local.close();
      metrics.close();
    });

    it("makes one span per run, named after the task, with its ids, trigger, tick, attempt and status; a failure is an error with its exception", async () => {
      const { adapter, upkeep } = host();
      await upkeep.start();
      exporter.reset();
      const ok = await adapter.fire("report", T0);
      failNext = true;
      let failed: Awaited<ReturnType<typeof upkeep.run>>;
      try {
        failed = await upkeep.run("report");
      } finally {
        failNext = false;
      }
      const spans = exporter.getFinishedSpans();
      expect(spans.map((span) => span.name)).toEqual(["upkeep.run report", "upkeep.run report"]);
      const [first, second] = spans;
      expect(first?.attributes).toMatchObject({
        "upkeep.task.id": "report",
        "upkeep.run.id": ok?.id,
        "upkeep.run.trigger": "schedule",
        "upkeep.run.scheduled_for": T0.toISOString(),
        "upkeep.run.attempt": 1,
        "upkeep.run.status": "succeeded",
      });
      expect(first?.status.code).toBe(SpanStatusCode.UNSET);
      expect(second?.attributes).toMatchObject({
        "upkeep.run.id": failed.id,
        "upkeep.run.trigger": "manual",
        "upkeep.run.status": "failed",
      });
      expect(second?.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "[upkeep] the report failed on purpose" });
      expect(second?.events.map((event) => [event.name, event.attributes?.["exception.message"]])).toEqual([
        ["exception", "[upkeep] the report failed on purpose"],
      ]);
      await upkeep.stop();
    });
  });
}

describe("built-in figure readers", () => {
  it("read rows deleted per cleanup policy, tokens suspended, indicators listed per feed and keys rotated", () => {
    const cleanup = BUILT_IN_FIGURES.cleanup?.({
      dryRun: false,
      policies: [{ name: "sessions", table: "sessions", action: "delete", status: "done", matched: 5, deleted: 5, archived: 0 }],
      totals: { matched: 5, deleted: 5, archived: 0 },
    });
    expect(cleanup).toContainEqual(
      expect.objectContaining({ name: "cleanup_rows_deleted_total", value: 5, labels: { policy: "sessions", table: "sessions" } }),
    );
    expect(BUILT_IN_FIGURES.heartbeats?.({ suspended: 2, expired: 1 })).toContainEqual(
      expect.objectContaining({ name: "heartbeats_tokens_suspended_total", value: 2 }),
    );
    const ioc = BUILT_IN_FIGURES["ioc-ingest"]?.({
      feeds: [
        { name: "drop", status: "updated", listed: 1200 },
        { name: "stale", status: "failed" },
      ],
      expired: { listings: 4, indicators: 1 },
    });
    expect(ioc?.filter((figure) => figure.name === "ioc_indicators_listed")).toEqual([
      expect.objectContaining({ kind: "gauge", value: 1200, labels: { feed: "drop" } }),
    ]);
    expect(BUILT_IN_FIGURES["key-rotation"]?.({ rotated: true, columns: [{ table: "users", column: "totp", reencrypted: 40 }] })).toEqual([
      expect.objectContaining({ name: "key_rotations_total", value: 1 }),
      expect.objectContaining({ name: "key_rows_reencrypted_total", value: 40, labels: { table: "users", column: "totp" } }),
    ]);
  });
});

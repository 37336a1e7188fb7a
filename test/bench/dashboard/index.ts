// Time to first byte of the dashboard's tasks page and of a task's run list, with 100,000 runs in
// the history, on SQLite and PostgreSQL, against the one indexed statement each page is built
// around, run straight on knex: the run list's keyset range (runsQuery, on the index of migration
// 0015) and the 30-day strip's aggregate (daysQuery). The pages add health, the sparklines, the
// authorize calls, rendering and HTTP; the target is within 2x. On the same history: the cost of
// one Prometheus scrape of upkeepMetrics (a health read of every task, then serialising) against
// prom-client serialising a registry that holds the same series, already set.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { defineTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { upkeepMetrics } from "@upkeep/core/metrics";
import { createDashboard } from "@upkeep/dashboard";
import type { TestDatabase } from "@upkeep/testkit";
import { Gauge, Registry } from "prom-client";
import { daysQuery, runsQuery } from "../../../packages/dashboard/src/queries.ts";
import { bench, historyRow, onEachDialect, timed } from "../lib.ts";

const HISTORY = Number(process.env.BENCH_DASHBOARD_RUNS ?? 100_000);
const REQUESTS = Number(process.env.BENCH_DASHBOARD_REQUESTS ?? 50);
const TASKS = 7;
const DAY_MS = 86_400_000;
const result = bench("dashboard");

/** A registry of plain gauges holding the series `source` exposes now, values set once. */
async function copyOf(source: Registry): Promise<Registry> {
  const plain = new Registry();
  const gauges = new Map<string, Gauge>();
  for (const metric of await source.getMetricsAsJSON()) {
    for (const value of metric.values as Array<{ metricName?: string; labels: Record<string, string | number>; value: number }>) {
      const name = value.metricName ?? metric.name;
      let gauge = gauges.get(name);
      if (!gauge) {
        const labelNames = [...new Set(metric.values.flatMap((each) => Object.keys(each.labels)))];
        gauge = new Gauge({ name, help: metric.help, labelNames, registers: [plain] });
        gauges.set(name, gauge);
      }
      gauge.set(value.labels, value.value);
    }
  }
  return plain;
}

async function measure(database: TestDatabase) {
  const { dialect, knex: db } = database;
  const tasks = Array.from({ length: TASKS }, (_, i) => defineTask({ id: `task${i}`, schedule: "* * * * *", run: () => ({ i }) }));
  const upkeep = registerTasks(manualAdapter(), { tasks, db, logger: silentLogger, healthInterval: 0 });
  await upkeep.start();
  // One run a minute, round robin over the tasks: 100,000 runs span about 69 days.
  const first = Math.floor(Date.now() / 60_000) * 60_000 - HISTORY * 60_000;
  await db.transaction(async (trx) => {
    for (let n = 0; n < HISTORY; n += 500) {
      const rows = Array.from({ length: Math.min(500, HISTORY - n) }, (_, k) =>
        historyRow(n + k, first, TASKS, { deleted: (n + k) % 97, archived: 0 }),
      );
      await trx("upkeep_runs").insert(rows);
    }
  });
  if (dialect === "postgres") await db.raw("analyze upkeep_runs");

  const dashboard = createDashboard({ upkeep, db, logger: silentLogger, authorize: () => true });
  const server = createServer(dashboard);
  // The baselines between the pages take longer than node's 5 s keep-alive: fetch would reuse a closing socket.
  server.keepAliveTimeout = 600_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  /** Mean time until the response headers arrive (the page is written in one piece), body read after. */
  async function ttfb(path: string): Promise<number> {
    let total = 0;
    for (let i = -5; i < REQUESTS; i++) {
      const start = performance.now();
      const response = await fetch(`${origin}${path}`);
      const ms = performance.now() - start;
      if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
      await response.text();
      if (i >= 0) total += ms;
    }
    return total / REQUESTS;
  }
  async function statement(run: () => Promise<unknown>): Promise<number> {
    for (let i = 0; i < 5; i++) await run();
    const { ms } = await timed(async () => {
      for (let i = 0; i < REQUESTS; i++) await run();
    });
    return ms / REQUESTS;
  }

  const since = new Date(Math.floor(Date.now() / DAY_MS - 29) * DAY_MS);
  result.report({
    metric: `${dialect}.tasks_page_ttfb`,
    ours: await ttfb("/"),
    baseline: await statement(() => daysQuery(db, "upkeep_runs", since)),
    unit: "ms",
  });
  result.report({
    metric: `${dialect}.run_list_ttfb`,
    ours: await ttfb("/tasks/task3"),
    baseline: await statement(() => runsQuery(db, "upkeep_runs", "task3", {}, null, 51)),
    unit: "ms",
  });
  // What HTTP alone costs here: the stylesheet, through the same handler and server, no statement.
  // Beside the run list's statement (a fraction of a millisecond), this floor is most of its page.
  result.report({
    metric: `${dialect}.run_list_ttfb_vs_http_floor`,
    ours: await ttfb("/tasks/task3"),
    baseline: await ttfb("/assets/dashboard.css"),
    unit: "ms",
  });

  const metrics = upkeepMetrics(upkeep);
  const plain = await copyOf(metrics.registry);
  result.report({
    metric: `${dialect}.metrics_per_scrape`,
    ours: await statement(() => metrics.text()),
    baseline: await statement(() => plain.metrics()),
    unit: "ms",
  });
  metrics.close();
  await dashboard.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await upkeep.stop();
}

await onEachDialect(["sqlite", "postgres"], measure);
result.write();

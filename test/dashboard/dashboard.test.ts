import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { defineTask, manualAdapter, registerTasks, silentLogger, TaskError, type Upkeep } from "@upkeep/core";
import { createDashboard, type DashboardAction, type DashboardHandler } from "@upkeep/dashboard";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchChromium } from "./browser.ts";

// The dashboard in Debian's chromium, against real runs on SQLite and PostgreSQL: every page, live
// progress over server-sent events, each action with and without authorization, CSRF and origin
// checks, and a result holding markup shown as text.
const BASE = "/ops/upkeep";
const XSS = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>";
const withBrowser = browserAvailable();

/** A task the test steps through: it reports progress each time `step` is called, then ends. */
function gatedTask() {
  let release: (() => void) | undefined;
  let started: () => void = () => {};
  const gate = { step: () => release?.(), started: new Promise<void>((resolve) => (started = resolve)) };
  const task = defineTask({
    id: "slow",
    description: "reports progress while the test steps it",
    schedule: "*/5 * * * *",
    run: async (ctx) => {
      started();
      for (let done = 1; done <= 3; done++) {
        await new Promise<void>((resolve) => (release = resolve));
        ctx.progress({ done, total: 3, unit: "batches" });
      }
      return { batches: 3 };
    },
  });
  return { task, gate };
}

const tasks = () => [
  defineTask({ id: "tidy", description: "deletes old rows", schedule: "0 3 * * *", run: () => ({ deleted: 42, archived: 0 }) }),
  defineTask({ id: "noisy", schedule: "10 * * * *", run: () => ({ note: XSS }) }),
  defineTask({
    id: "broken",
    schedule: "* * * * *",
    run: () => {
      throw new TaskError("the fixture fails on purpose <b>bold</b>", { reason: "FIXTURE" });
    },
  }),
  defineTask({
    id: "guard",
    schedule: "* * * * *",
    run: (ctx) => {
      ctx.emit({ type: "agent.suspended", security: true, severity: "warning", data: { tokenId: "agent-7" } });
      return {
        dryRun: false,
        suspended: 1,
        expired: 0,
        suspendedIds: ["agent-7"],
        expiredIds: [],
        idsTruncated: false,
        stopped: false,
      };
    },
  }),
];

for (const { dialect, available } of await probeDialects(["sqlite", "postgres"])) {
  describe.skipIf(!available || !withBrowser)(`dashboard in chromium on ${dialect}`, { timeout: 90_000 }, () => {
    let database: TestDatabase;
    let upkeep: Upkeep;
    let dashboard: DashboardHandler;
    let server: Server;
    let origin: string;
    let browser: Browser;
    let page: Page;
    const gated = gatedTask();
    const allowed = new Set<DashboardAction>(["view"]);
    const prefix = `dash_${dialect}_`;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      upkeep = registerTasks(manualAdapter(), {
        tasks: [...tasks(), gated.task],
        db: database.knex,
        tablePrefix: prefix,
        logger: silentLogger,
        healthInterval: 0,
      });
      await upkeep.migrate();
      for (let index = 0; index < 3; index++) await upkeep.run("tidy");
      await upkeep.run("noisy");
      await upkeep.run("broken");
      await upkeep.run("guard");
      dashboard = createDashboard({
        upkeep,
        db: database.knex,
        tablePrefix: prefix,
        basePath: BASE,
        pageSize: 2,
        logger: silentLogger,
        authorize: (_request, action) => allowed.has(action),
      });
      server = createServer(dashboard);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await launchChromium();
      page = await browser.newPage();
    });
    afterAll(async () => {
      await browser?.close();
      await dashboard?.close();
      await new Promise((resolve) => server?.close(resolve));
      await upkeep?.stop();
      await database?.destroy();
    });

    /** Content-Security-Policy violations the page reported while `work` ran. */
    async function cspViolations(work: () => Promise<unknown>): Promise<string[]> {
      const seen: string[] = [];
      const listen = (message: { text(): string }) => {
        if (/Content Security Policy/i.test(message.text())) seen.push(message.text());
      };
      page.on("console", listen);
      try {
        await work();
      } finally {
        page.off("console", listen);
      }
      return seen;
    }

    it("shows every task with its schedule in words, health, last outcome, figures, strip and sparkline", async () => {
      const violations = await cspViolations(() => page.goto(`${origin}${BASE}/`));
      const tidy = page.locator('tr[data-task="tidy"]');
      await expect(tidy.textContent()).resolves.toContain("every day at 03:00");
      await expect(tidy.locator("code").first().textContent()).resolves.toBe("0 3 * * *");
      await expect(tidy.locator(".figures").textContent()).resolves.toContain("deleted42");
      await expect(tidy.locator(".badge").nth(1).textContent()).resolves.toBe("succeeded");
      await expect(tidy.locator("svg.strip rect.d-succeeded").count()).resolves.toBe(1);
      await expect(tidy.locator("svg.spark polyline").count()).resolves.toBe(1);
      await expect(page.locator('tr[data-task="broken"] svg.strip rect.d-failed').count()).resolves.toBe(1);
      await expect(page.locator('tr[data-task="slow"]').textContent()).resolves.toContain("every 5 minutes");
      expect(violations).toEqual([]);
      const headers = (await page.request.get(`${origin}${BASE}/`)).headers();
      expect(headers["content-security-policy"]).toContain("script-src 'self'");
      expect(headers["content-security-policy"]).not.toContain("unsafe-inline");
    });

    it("shows a result holding <script> as text and never runs it", async () => {
      const run = (await upkeep.runs({ taskId: "noisy" }))[0];
      await page.goto(`${origin}${BASE}/runs/${run?.id}`);
      await expect(page.locator("pre.result").textContent()).resolves.toContain(XSS);
      await expect(page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).resolves.toBeUndefined();
      await expect(page.locator("img[src=x]").count()).resolves.toBe(0);
    });

    it("lists a task's runs newest first, paged by cursor, filtered by status and trigger", async () => {
      await page.goto(`${origin}${BASE}/tasks/tidy`);
      const firstPage = await page.locator("tr[data-run]").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-run")));
      expect(firstPage).toHaveLength(2);
      await page.click("a[rel=next]");
      const secondPage = await page.locator("tr[data-run]").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-run")));
      expect(secondPage).toHaveLength(1);
      const all = (await upkeep.runs({ taskId: "tidy" })).map((run) => run.id);
      expect([...firstPage, ...secondPage]).toEqual(all);
      await expect(page.locator("a[rel=next]").count()).resolves.toBe(0);

      await page.goto(`${origin}${BASE}/tasks/tidy`);
      await page.selectOption("select[name=status]", "failed");
      await page.click("form.filters button");
      expect(page.url()).toContain("status=failed");
      await expect(page.locator("tr[data-run]").count()).resolves.toBe(0);
      await page.goto(`${origin}${BASE}/tasks/tidy?trigger=manual&from=2000-01-01`);
      await expect(page.locator("tr[data-run]").count()).resolves.toBe(2);
      await page.goto(`${origin}${BASE}/tasks/tidy?trigger=schedule`);
      await expect(page.locator("tr[data-run]").count()).resolves.toBe(0);
    });

    it("refuses a bad filter with a message naming the field", async () => {
      const response = await page.goto(`${origin}${BASE}/tasks/tidy?status=exploded`);
      expect(response?.status()).toBe(400);
      await expect(page.locator("main").textContent()).resolves.toContain("status must be one of");
      const date = await page.goto(`${origin}${BASE}/tasks/tidy?from=yesterday`);
      expect(date?.status()).toBe(400);
      await expect(page.locator("main").textContent()).resolves.toContain("from must be a date");
    });

    it("shows a failed run's error and stack, attempts, host and pid", async () => {
      const run = (await upkeep.runs({ taskId: "broken" }))[0];
      await page.goto(`${origin}${BASE}/tasks/broken`);
      await page.click(`tr[data-run="${run?.id}"] a`);
      await expect(page.locator("p.error").textContent()).resolves.toContain("the fixture fails on purpose <b>bold</b>");
      await expect(page.locator("p.error b").count()).resolves.toBe(0);
      await expect(page.locator("pre.stack").textContent()).resolves.toContain("TaskError");
      const grid = await page.locator("dl.grid").textContent();
      expect(grid).toContain(`pid ${process.pid}`);
      expect(grid).toContain("Attempts1");
    });

    it("shows the security events the tasks wrote to the outbox", async () => {
      await page.goto(`${origin}${BASE}/security`);
      await expect(page.locator("main p").first().textContent()).resolves.toContain("From the events table");
      const row = page.locator('tr[data-event="agent.suspended"]');
      await expect(row.count()).resolves.toBeGreaterThan(0);
      await expect(row.textContent()).resolves.toContain("agent-7");
    });

    it("offers no action button without authorization, and refuses the action's POST", async () => {
      allowed.clear();
      allowed.add("view");
      await page.goto(`${origin}${BASE}/tasks/tidy`);
      await expect(page.locator("form.inline").count()).resolves.toBe(0);
      for (const action of ["run", "dry-run", "pause", "resume"]) {
        // A valid token and a same-origin request: only the authorization is missing.
        allowed.add(action as DashboardAction);
        await page.goto(`${origin}${BASE}/tasks/tidy`);
        allowed.delete(action as DashboardAction);
        const before = (await upkeep.runs({ taskId: "tidy" })).length;
        if (action === "resume") await upkeep.pause("tidy");
        if (action === "resume") {
          allowed.add("resume");
          await page.goto(`${origin}${BASE}/tasks/tidy`);
          allowed.delete("resume");
        }
        await Promise.all([page.waitForLoadState(), page.click(`form[action$="/tasks/tidy/${action}"] button`)]);
        await expect(page.locator("main").textContent()).resolves.toContain(`not authorized to ${action} this task`);
        expect((await upkeep.runs({ taskId: "tidy" })).length).toBe(before);
        const state = (await upkeep.health()).find((task) => task.id === "tidy")?.state;
        if (action === "resume") expect(state).toBe("paused");
        else expect(state).not.toBe("paused");
        if (action === "resume") await upkeep.resume("tidy");
      }
    });

    it("runs now, dry-runs, pauses and resumes when authorized", async () => {
      allowed.clear();
      for (const action of ["view", "run", "dry-run", "pause", "resume"] as const) allowed.add(action);
      await page.goto(`${origin}${BASE}/tasks/tidy`);
      await Promise.all([page.waitForURL(/\/runs\//), page.click('form[action$="/tasks/tidy/run"] button')]);
      await expect(page.locator("h1 .badge").textContent()).resolves.toMatch(/running|succeeded/);
      await page.goto(`${origin}${BASE}/tasks/tidy`);
      await Promise.all([page.waitForURL(/\/runs\//), page.click('form[action$="/tasks/tidy/dry-run"] button')]);
      await expect(page.locator("dl.grid").textContent()).resolves.toContain("manual (dry run)");
      const runs = await upkeep.runs({ taskId: "tidy" });
      expect(runs.filter((run) => run.dryRun)).toHaveLength(1);
      expect(runs).toHaveLength(5);

      await page.goto(`${origin}${BASE}/tasks/tidy`);
      await page.fill('form[action$="/tasks/tidy/pause"] input[name=reason]', "table rebuild <i>now</i>");
      await Promise.all([page.waitForLoadState(), page.click('form[action$="/tasks/tidy/pause"] button')]);
      const paused = (await upkeep.health()).find((task) => task.id === "tidy");
      expect(paused?.state).toBe("paused");
      expect(paused?.paused?.reason).toBe("table rebuild <i>now</i>");
      await expect(page.locator("h1 .badge").textContent()).resolves.toBe("paused");
      await expect(page.locator("main").textContent()).resolves.toContain("table rebuild <i>now</i>");
      await Promise.all([page.waitForLoadState(), page.click('form[action$="/tasks/tidy/resume"] button')]);
      expect((await upkeep.health()).find((task) => task.id === "tidy")?.state).not.toBe("paused");
    });

    it("refuses a POST without the CSRF token, with a forged one, and from another origin", async () => {
      await page.goto(`${origin}${BASE}/`);
      const statuses = await page.evaluate(async (url) => {
        const post = (body: string) =>
          fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body }).then((r) => r.status);
        return [await post(""), await post("csrf=forged")];
      }, `${origin}${BASE}/tasks/tidy/pause`);
      expect(statuses).toEqual([403, 403]);
      const token = await page.locator('form[action$="/tasks/tidy/pause"] input[name=csrf]').inputValue();
      const cookie = (await page.context().cookies()).find((entry) => entry.name === "upkeep_csrf");
      expect(cookie?.httpOnly).toBe(true);
      expect(cookie?.sameSite).toBe("Strict");
      const crossSite = await fetch(`${origin}${BASE}/tasks/tidy/pause`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          cookie: `upkeep_csrf=${cookie?.value}`,
          origin: "https://evil.example",
        },
        body: `csrf=${token}`,
      });
      expect(crossSite.status).toBe(403);
      await expect(crossSite.text()).resolves.toContain("cross-origin request refused");
      expect((await upkeep.health()).find((task) => task.id === "tidy")?.state).not.toBe("paused");
    });

    /** Waits until the run page's live section shows `done` (a function, not a string: the CSP forbids eval). */
    const liveDone = (done: string) =>
      page.waitForFunction((expected) => {
        const doc = (
          globalThis as unknown as { document: { querySelector(selector: string): { getAttribute(name: string): string | null } | null } }
        ).document;
        return doc.querySelector("section[data-live]")?.getAttribute("data-done") === expected;
      }, done);

    it("follows a running run's progress live and shows its outcome when it ends", async () => {
      allowed.add("view").add("run");
      await page.goto(`${origin}${BASE}/tasks/slow`);
      await Promise.all([page.waitForURL(/\/runs\//), page.click('form[action$="/tasks/slow/run"] button')]);
      await gated.gate.started;
      await page.waitForSelector("section[data-live]");
      const live = page.locator("section[data-live]");
      // Each step reports one batch; the page shows each without a reload.
      gated.gate.step();
      await liveDone("1");
      await expect(live.locator("[data-progress-text]").textContent()).resolves.toBe("1 / 3 batches");
      gated.gate.step();
      await liveDone("2");
      await expect(page.locator("progress").evaluate((bar) => (bar as unknown as { value: number }).value)).resolves.toBe(2);
      gated.gate.step();
      await page.waitForSelector("h1 .s-succeeded", { timeout: 15_000 });
      await expect(page.locator("pre.result").textContent()).resolves.toContain('"batches": 3');
    });

    it("falls back to the runs' results on a schema without the events table", async () => {
      // A host whose schema predates the outbox (0013_events): the page derives what it can.
      await database.knex.schema.dropTable(`${prefix}events`);
      const fresh = createDashboard({
        upkeep,
        db: database.knex,
        tablePrefix: prefix,
        basePath: BASE,
        authorize: () => true,
        logger: silentLogger,
      });
      const other = createServer(fresh);
      await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
      try {
        await page.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}${BASE}/security`);
        await expect(page.locator("main p").first().textContent()).resolves.toContain("Derived from the stored results");
        await expect(page.locator('tr[data-event="agent.suspended"]').count()).resolves.toBeGreaterThan(0);
      } finally {
        await fresh.close();
        await new Promise((resolve) => other.close(resolve));
      }
    });
  });
}

describe("dashboard access", () => {
  it("refuses every page when the host passes no authorize", async () => {
    const upkeep = registerTasks(manualAdapter(), { tasks: tasks(), logger: silentLogger, healthInterval: 0 });
    const dashboard = createDashboard({ upkeep, logger: silentLogger });
    const server = createServer(dashboard);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const path of ["/", "/tasks/tidy", "/security"]) {
        const response = await fetch(`${base}${path}`);
        expect(response.status).toBe(403);
        expect(await response.text()).not.toContain("tidy");
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await dashboard.close();
    }
  });
});

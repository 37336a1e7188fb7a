import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createJsonLogger,
  type Logger,
  manualAdapter,
  type Progress,
  type RunRecord,
  type RunStatus,
  registerTasks,
  type TaskHealth,
  type Upkeep,
  type UpkeepConfig,
  UpkeepError,
} from "@upkeep/core";
import type { Knex } from "knex";
import { CSS, JS } from "./assets.ts";
import { Csrf, sameOrigin } from "./csrf.ts";
import type { Html } from "./html.ts";
import type { DashboardAction } from "./pages/actions.ts";
import { messagePage, type PageContext } from "./pages/layout.ts";
import { runPage } from "./pages/run.ts";
import { decodeCursor, runsPage, STATUSES, TRIGGERS } from "./pages/runs.ts";
import { securityPage } from "./pages/security.ts";
import { tasksPage } from "./pages/tasks.ts";
import { type Cursor, DAY_MS, type DashboardData, handleData, knexData, type RunFilter } from "./queries.ts";
import { streamRun } from "./sse.ts";

/** What `authorize` is asked about: the task, for actions and task pages. */
export interface AuthorizeTarget {
  /** The task the action or page concerns; absent for pages that list every task. */
  taskId?: string;
}

/**
 * Decides whether a request may do an action. Called for every page (`view`) and every action;
 * a thrown error or a rejected promise counts as a refusal.
 */
export type Authorize = (request: IncomingMessage, action: DashboardAction, target: AuthorizeTarget) => boolean | Promise<boolean>;

/** Options of `createDashboard`. Pass `upkeep` (the host's handle) or `config` (the dashboard makes one). */
export interface DashboardOptions {
  /** The host's handle, from `registerTasks`. Actions run through it, in this process. */
  upkeep?: Upkeep;
  /**
   * A configuration to read instead of a handle: the dashboard registers its tasks on a manual
   * adapter (nothing is scheduled) and runs actions through that. Its `db` and `tablePrefix` are used.
   */
  config?: UpkeepConfig;
  /**
   * The knex instance the run history lives in, for the run list and the 30-day strip. Without it
   * (the in-memory store) the pages read the latest 10,000 runs through `upkeep.runs()`.
   * @default config.db
   */
  db?: Knex;
  /** Prefix of upkeep's tables the dashboard reads. @default config.tablePrefix, or "upkeep_" */
  tablePrefix?: string;
  /**
   * The path the handler is mounted under, such as `/admin/upkeep`; every link and form uses it.
   * @default ""
   */
  basePath?: string;
  /**
   * The host's access check. Without it every request is refused (403): the host opts in, to the
   * read-only pages (`view`) and to each action (`run`, `dry-run`, `pause`, `resume`).
   * @default refuses everything
   */
  authorize?: Authorize;
  /**
   * The secret the CSRF tokens are signed with. Set the same one on every process behind a load
   * balancer; by default each process makes a random one (forms from before a restart are refused).
   * @default a random secret per process
   */
  csrfSecret?: string;
  /**
   * Origins (such as `https://ops.example.com`) accepted on a POST besides the request's own `Host`,
   * for a proxy that rewrites `Host`; only consulted when the browser sends no `Sec-Fetch-Site`.
   * @default []
   */
  trustedOrigins?: readonly string[];
  /** Runs per page of a listing. @default 50 */
  pageSize?: number;
  /**
   * Where failures of the pages are logged (their details never reach the browser).
   * @default config.logger, or JSON lines on stderr
   */
  logger?: Logger;
  /** The clock the pages measure ages and windows by. @default () => new Date() */
  clock?: () => Date;
}

/** The node:http handler `createDashboard` returns. */
export interface DashboardHandler {
  (request: IncomingMessage, response: ServerResponse): void;
  /** Stops live progress streams and, with `config`, the handle the dashboard made (never the host's knex). */
  close(): Promise<void>;
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};
const BODY_LIMIT = 4096;
const ACTIONS: ReadonlySet<DashboardAction> = new Set(["run", "dry-run", "pause", "resume"]);
const TASK_ACTIONS: readonly DashboardAction[] = ["run", "dry-run", "pause", "resume"];
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A request the dashboard refuses, with the status and a message that names the field. */
class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function normaliseBase(path: string | undefined): string {
  const trimmed = (path ?? "").replace(/\/+$/, "");
  if (trimmed !== "" && !trimmed.startsWith("/")) throw new TypeError("[upkeep] createDashboard: basePath must start with /");
  return trimmed;
}

function send(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    ...headers,
  });
  response.end(body);
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const parsed = (request as IncomingMessage & { body?: unknown }).body;
  if (parsed && typeof parsed === "object" && !Buffer.isBuffer(parsed)) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) if (typeof value === "string") params.set(key, value);
    return params;
  }
  const type = request.headers["content-type"] ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded"))
    throw new Refusal(415, "a form post (application/x-www-form-urlencoded) is expected");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Refusal(413, `the form is larger than ${BODY_LIMIT} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function parseFilter(params: URLSearchParams): RunFilter {
  const filter: RunFilter = {};
  const status = params.get("status") || undefined;
  if (status !== undefined) {
    if (!(STATUSES as readonly string[]).includes(status)) throw new Refusal(400, `status must be one of ${STATUSES.join(", ")}`);
    filter.status = status as RunStatus;
  }
  const trigger = params.get("trigger") || undefined;
  if (trigger !== undefined) {
    if (!(TRIGGERS as readonly string[]).includes(trigger)) throw new Refusal(400, `trigger must be one of ${TRIGGERS.join(", ")}`);
    filter.trigger = trigger as RunRecord["trigger"];
  }
  for (const field of ["from", "to"] as const) {
    const value = params.get(field) || undefined;
    if (value === undefined) continue;
    const date = DATE.test(value) ? new Date(`${value}T00:00:00Z`) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) throw new Refusal(400, `${field} must be a date as YYYY-MM-DD`);
    filter[field] = field === "to" ? new Date(date.getTime() + DAY_MS) : date;
  }
  return filter;
}

function parseCursor(params: URLSearchParams): Cursor | null {
  const text = params.get("cursor");
  if (!text) return null;
  const cursor = decodeCursor(text);
  if (!cursor) throw new Refusal(400, "cursor is not one this dashboard made");
  return cursor;
}

/**
 * The dashboard as a node:http handler: the tasks page, a task's runs, a run with live progress,
 * security events, and the actions run now, dry run, pause and resume. Every page and action asks
 * `authorize` first; posts need the CSRF token and a same-origin request.
 */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  if (!options.upkeep && !options.config) throw new TypeError("[upkeep] createDashboard: pass upkeep (a handle) or config");
  const base = normaliseBase(options.basePath);
  const cookiePath = base || "/";
  const owned = options.upkeep ? undefined : registerTasks(manualAdapter(), options.config as UpkeepConfig);
  const upkeep = (options.upkeep ?? owned) as Upkeep;
  const db = options.db ?? options.config?.db;
  const prefix = options.tablePrefix ?? options.config?.tablePrefix ?? "upkeep_";
  const data: DashboardData = db ? knexData(db, prefix) : handleData(upkeep);
  const csrf = new Csrf(options.csrfSecret);
  const logger = options.logger ?? options.config?.logger ?? createJsonLogger();
  const clock = options.clock ?? (() => new Date());
  const pageSize = options.pageSize ?? 50;
  const authorize = options.authorize;
  const streams = new Set<() => void>();
  // The latest progress of each run going on in this process, so a page opened mid-run shows it at once.
  const progress = new Map<string, Progress>();
  const forget = ({ run }: { run: RunRecord }) => void progress.delete(run.id);
  const unsubscribe = [
    upkeep.on("run:progress", ({ run, progress: latest }) => void progress.set(run.id, latest)),
    upkeep.on("run:success", forget),
    upkeep.on("run:failure", forget),
    upkeep.on("run:skipped", forget),
  ];

  async function allowed(request: IncomingMessage, action: DashboardAction, target: AuthorizeTarget): Promise<boolean> {
    if (!authorize) return false;
    try {
      return (await authorize(request, action, target)) === true;
    } catch (error) {
      logger.warn({ err: error, action }, "[upkeep] [dashboard] authorize threw; the request is refused");
      return false;
    }
  }

  async function allowedActions(request: IncomingMessage, taskId: string): Promise<Set<DashboardAction>> {
    const verdicts = await Promise.all(TASK_ACTIONS.map((action) => allowed(request, action, { taskId })));
    return new Set(TASK_ACTIONS.filter((_, index) => verdicts[index]));
  }

  /** One task's health, read for that task alone; an unknown id is a 404. */
  async function healthOf(taskId: string): Promise<TaskHealth> {
    try {
      return await upkeep.taskHealth(taskId);
    } catch (error) {
      if (error instanceof UpkeepError && error.code === "TASK_NOT_FOUND") throw new Refusal(404, "no task with this id");
      throw error;
    }
  }

  /** Renders a page; only a rendered page sets the CSRF cookie (a 404 such as /favicon.ico never replaces it). */
  async function page(
    request: IncomingMessage,
    response: ServerResponse,
    ctx: PageContext,
    route: string[],
    params: URLSearchParams,
    setCookie: string | undefined,
  ) {
    const [first, id, rest] = route;
    let body: Html;
    if (first === undefined) {
      const [health, list] = await Promise.all([upkeep.health(), upkeep.list()]);
      const ids = health.map((task) => task.id);
      const [days, durations, verdicts] = await Promise.all([
        data.days(new Date(Math.floor(ctx.now.getTime() / DAY_MS - 29) * DAY_MS)),
        data.durations(ids, 30),
        Promise.all(ids.map((taskId) => allowedActions(request, taskId))),
      ]);
      const allowedByTask = new Map(ids.map((taskId, index) => [taskId, verdicts[index] as Set<DashboardAction>]));
      body = tasksPage(ctx, { health, info: new Map(list.map((info) => [info.id, info])), days, durations, allowed: allowedByTask });
    } else if (first === "tasks" && id !== undefined && rest === undefined) {
      const filter = parseFilter(params);
      const cursor = parseCursor(params);
      const [task, runs, actions] = await Promise.all([healthOf(id), data.runs(id, filter, cursor, pageSize), allowedActions(request, id)]);
      body = runsPage(ctx, { task, filter, runs: runs.runs, next: runs.next, paged: cursor !== null, allowed: actions });
    } else if (first === "runs" && id !== undefined && rest === undefined) {
      const run = await data.run(id);
      if (!run) throw new Refusal(404, "no run with this id");
      const timezone = (await upkeep.list()).find((task) => task.id === run.taskId)?.timezone ?? "UTC";
      body = runPage(ctx, run, timezone);
    } else if (first === "runs" && id !== undefined && rest === "events") {
      const run = await data.run(id);
      if (!run) throw new Refusal(404, "no run with this id");
      streamRun({ request, response, upkeep, data, run, headers: SECURITY_HEADERS, streams, latest: progress.get(run.id) });
      return;
    } else if (first === "security" && id === undefined) {
      body = securityPage(ctx, await data.securityEvents(parseCursor(params), pageSize));
    } else {
      throw new Refusal(404, "no such page");
    }
    send(response, 200, `${body}`, setCookie ? { "set-cookie": setCookie } : {});
  }

  async function act(request: IncomingMessage, response: ServerResponse, route: string[]) {
    const [first, taskId, action] = route;
    if (first !== "tasks" || taskId === undefined || !ACTIONS.has(action as DashboardAction) || route.length !== 3) {
      throw new Refusal(404, "no such action");
    }
    if (!sameOrigin(request, options.trustedOrigins ?? [])) throw new Refusal(403, "cross-origin request refused");
    const form = await readForm(request);
    if (!csrf.verify(request, form.get("csrf") ?? undefined))
      throw new Refusal(403, "csrf token missing or invalid; reload the page and try again");
    if (!(await allowed(request, action as DashboardAction, { taskId }))) throw new Refusal(403, `not authorized to ${action} this task`);
    const back = `${base}/tasks/${encodeURIComponent(taskId)}`;
    if (action === "pause") {
      const reason = form.get("reason")?.trim() || undefined;
      if (reason && reason.length > 500) throw new Refusal(400, "reason must be at most 500 characters");
      await healthOf(taskId);
      await upkeep.pause(taskId, { reason });
    } else if (action === "resume") {
      await healthOf(taskId);
      await upkeep.resume(taskId);
    } else {
      await healthOf(taskId);
      const runId = await startRun(taskId, action === "dry-run");
      response.writeHead(303, { ...SECURITY_HEADERS, location: runId ? `${base}/runs/${encodeURIComponent(runId)}` : back }).end();
      return;
    }
    response.writeHead(303, { ...SECURITY_HEADERS, location: back }).end();
  }

  /** Starts a manual run and resolves with its id once it is claimed (the run goes on in the background). */
  function startRun(taskId: string, dryRun: boolean): Promise<string | undefined> {
    return new Promise((resolve) => {
      const offs: Array<() => void> = [];
      const done = (id: string | undefined) => {
        for (const off of offs.splice(0)) off();
        resolve(id);
      };
      const seen = ({ run }: { run: RunRecord }) => {
        if (run.taskId === taskId && run.trigger === "manual" && run.dryRun === dryRun) done(run.id);
      };
      offs.push(upkeep.on("run:start", seen), upkeep.on("run:skipped", seen));
      upkeep.run(taskId, { dryRun }).then(
        (run) => done(run.id),
        (error: unknown) => {
          logger.error({ err: error, taskId }, "[upkeep] [dashboard] manual run failed to start");
          done(undefined);
        },
      );
    });
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? "/", "http://dashboard.invalid");
    let path = url.pathname;
    if (base && (path === base || path.startsWith(`${base}/`))) path = path.slice(base.length);
    let route: string[];
    try {
      route = path
        .split("/")
        .filter((part) => part !== "")
        .map((part) => decodeURIComponent(part));
    } catch {
      throw new Refusal(400, "the path is not valid percent-encoding");
    }
    const now = clock();
    if (route[0] === "assets" && route.length === 2 && (request.method === "GET" || request.method === "HEAD")) {
      const asset = route[1] === "dashboard.css" ? CSS : route[1] === "dashboard.js" ? JS : undefined;
      if (asset === undefined) throw new Refusal(404, "no such asset");
      const type = route[1] === "dashboard.css" ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
      send(response, 200, request.method === "HEAD" ? "" : asset, {
        "content-type": type,
        "cache-control": "public, max-age=31536000, immutable",
      });
      return;
    }
    if (request.method === "POST") {
      await act(request, response, route);
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") throw new Refusal(405, "method not allowed");
    const taskId = route[0] === "tasks" ? route[1] : undefined;
    if (!(await allowed(request, "view", taskId ? { taskId } : {}))) throw new Refusal(403, "not authorized to view the dashboard");
    const session = csrf.session(request, cookiePath);
    await page(request, response, { base, csrf: csrf.token(session.value), now }, route, url.searchParams, session.setCookie);
  }

  const handler = ((request: IncomingMessage, response: ServerResponse) => {
    handle(request, response).catch((error: unknown) => {
      const refusal = error instanceof Refusal ? error : undefined;
      if (!refusal) logger.error({ err: error }, "[upkeep] [dashboard] page failed");
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const status = refusal?.status ?? 500;
      const message = refusal?.message ?? "The dashboard could not read the run store; the server log has the cause.";
      const title = status === 403 ? "Not allowed" : status === 404 ? "Not found" : status >= 500 ? "Something went wrong" : "Bad request";
      send(response, status, `${messagePage({ base, csrf: undefined, now: clock() }, title, message)}`);
    });
  }) as DashboardHandler;
  handler.close = async () => {
    for (const stop of [...streams]) stop();
    for (const off of unsubscribe) off();
    await owned?.stop();
  };
  return handler;
}

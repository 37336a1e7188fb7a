import type { RunRecord, TaskHealth } from "@upkeep/core";
import { badge, figureList, formatDuration, timeTag } from "../format.ts";
import { type Html, html } from "../html.ts";
import type { Cursor, RunFilter } from "../queries.ts";
import { scheduleInWords } from "../schedule-words.ts";
import { type DashboardAction, taskActions } from "./actions.ts";
import { layout, type PageContext } from "./layout.ts";

export const STATUSES = ["running", "succeeded", "failed", "skipped", "timed_out", "interrupted", "abandoned"] as const;
export const TRIGGERS = ["schedule", "catch-up", "manual"] as const;

/** A cursor as it travels in a URL. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(`${cursor.claimedAt}:${cursor.id}`, "utf8").toString("base64url");
}

/** The cursor of a URL, or undefined when it is not one this dashboard made. */
export function decodeCursor(text: string): Cursor | undefined {
  const decoded = Buffer.from(text, "base64url").toString("utf8");
  const match = /^(\d{1,15}):([\w-]{1,64})$/.exec(decoded);
  return match ? { claimedAt: Number(match[1]), id: match[2] as string } : undefined;
}

const day = (date: Date | undefined) => (date ? date.toISOString().slice(0, 10) : "");

function options(values: readonly string[], selected: string | undefined): Html[] {
  return [
    html`<option value="">any</option>`,
    ...values.map(
      (value) => html`<option value="${value}"${value === selected ? html` selected` : ""}>${value.replace("_", " ")}</option>`,
    ),
  ];
}

function filterForm(ctx: PageContext, path: string, filter: RunFilter): Html {
  return html`<form class="filters" method="get" action="${ctx.base}${path}">
<label>Status<select name="status">${options(STATUSES, filter.status)}</select></label>
<label>Trigger<select name="trigger">${options(TRIGGERS, filter.trigger)}</select></label>
<label>From (UTC)<input type="date" name="from" value="${day(filter.from)}"></label>
<label>To (UTC, inclusive)<input type="date" name="to" value="${day(filter.to && new Date(filter.to.getTime() - 86_400_000))}"></label>
<button type="submit">Filter</button> <a href="${ctx.base}${path}">clear</a></form>`;
}

function query(filter: RunFilter, cursor: Cursor | null): string {
  const params = new URLSearchParams();
  if (filter.status) params.set("status", filter.status);
  if (filter.trigger) params.set("trigger", filter.trigger);
  if (filter.from) params.set("from", day(filter.from));
  if (filter.to) params.set("to", day(new Date(filter.to.getTime() - 86_400_000)));
  if (cursor) params.set("cursor", encodeCursor(cursor));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A run as one table row. */
export function runRow(ctx: PageContext, run: RunRecord, timezone: string): Html {
  return html`<tr data-run="${run.id}"><td><a href="${ctx.base}/runs/${encodeURIComponent(run.id)}">${timeTag(run.claimedAt, timezone)}</a></td>
<td>${badge(run.status)}${run.dryRun ? html` <span class="muted small">dry run</span>` : ""}</td><td>${run.trigger}</td>
<td>${timeTag(run.scheduledFor, timezone)}</td><td>${formatDuration(run.durationMs)}</td><td>${run.attempt}</td>
<td>${run.errorMessage ?? run.reason ?? ""}${figureList(run.result)}</td><td class="small">${run.host}:${run.pid}</td></tr>`;
}

export interface RunsPageData {
  task: TaskHealth;
  filter: RunFilter;
  runs: readonly RunRecord[];
  next: Cursor | null;
  paged: boolean;
  allowed: ReadonlySet<DashboardAction>;
}

/** One task's runs, newest first, filtered and paged by cursor. */
export function runsPage(ctx: PageContext, data: RunsPageData): Html {
  const { task } = data;
  const path = `/tasks/${encodeURIComponent(task.id)}`;
  const rows = data.runs.map((run) => runRow(ctx, run, task.timezone));
  const pager = html`<div class="pager">${data.paged ? html`<a href="${ctx.base}${path}${query(data.filter, null)}">« newest</a> ` : ""}${
    data.next
      ? html`<a rel="next" href="${ctx.base}${path}${query(data.filter, data.next)}">older runs »</a>`
      : html`<span class="muted">end of history</span>`
  }</div>`;
  return layout(
    ctx,
    task.id,
    html`<h1>${task.id} ${badge(task.state)}</h1>
<p>${scheduleInWords(task.schedule)} (<code>${task.schedule}</code>, ${task.timezone}); next run ${timeTag(task.nextRun, task.timezone)}. <span class="muted">${task.detail}</span></p>
${taskActions(ctx, task, data.allowed)}
<h2>Runs</h2>${filterForm(ctx, path, data.filter)}
<table class="runs"><thead><tr><th>Claimed</th><th>Status</th><th>Trigger</th><th>Tick</th><th>Duration</th><th>Attempt</th><th>Outcome</th><th>Host</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="8" class="muted">No run matches.</td></tr>`}</tbody></table>${pager}`,
  );
}

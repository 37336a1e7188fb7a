import type { RunRecord, TaskHealth, TaskInfo } from "@upkeep/core";
import { badge, figureList, outcomeStrip, sparkline, timeTag } from "../format.ts";
import { type Html, html } from "../html.ts";
import type { DayOutcomes } from "../queries.ts";
import { scheduleInWords } from "../schedule-words.ts";
import { type DashboardAction, taskActions } from "./actions.ts";
import { layout, type PageContext } from "./layout.ts";

export interface TasksPageData {
  health: readonly TaskHealth[];
  info: ReadonlyMap<string, TaskInfo>;
  days: ReadonlyMap<string, DayOutcomes[]>;
  durations: ReadonlyMap<string, RunRecord[]>;
  allowed: ReadonlyMap<string, ReadonlySet<DashboardAction>>;
}

function lastOutcome(ctx: PageContext, task: TaskHealth, last: RunRecord | undefined): Html {
  if (!last) return html`<span class="muted">no run yet</span>`;
  return html`<a href="${ctx.base}/runs/${encodeURIComponent(last.id)}">${badge(last.status)}</a> ${timeTag(last.finishedAt ?? last.claimedAt, task.timezone)}
    <span class="muted small">${last.trigger}${last.dryRun ? ", dry run" : ""}</span>${figureList(last.result)}`;
}

/** Every task: schedule, next run, health, last outcome with its figures, 30 days, durations. */
export function tasksPage(ctx: PageContext, data: TasksPageData): Html {
  const rows = data.health.map((task) => {
    const info = data.info.get(task.id);
    const last = info?.lastRun ?? task.lastRun;
    const href = `${ctx.base}/tasks/${encodeURIComponent(task.id)}`;
    return html`<tr data-task="${task.id}">
<td><a href="${href}"><strong>${task.id}</strong></a><div class="muted small">${info?.description ?? ""}</div></td>
<td>${scheduleInWords(task.schedule)}<div class="muted small"><code>${task.schedule}</code> · ${task.timezone}</div></td>
<td>${timeTag(task.nextRun, task.timezone)}</td>
<td>${badge(task.state)}<div class="muted small">${task.detail}</div></td>
<td>${lastOutcome(ctx, task, last)}</td>
<td>${outcomeStrip(data.days.get(task.id) ?? [], ctx.now)}</td>
<td>${sparkline(data.durations.get(task.id) ?? [])}</td>
<td>${taskActions(ctx, task, data.allowed.get(task.id) ?? new Set())}</td></tr>`;
  });
  return layout(
    ctx,
    "Tasks",
    html`<h1>Tasks</h1><table class="tasks"><thead><tr><th>Task</th><th>Schedule</th><th>Next run</th><th>Health</th><th>Last outcome</th><th>30 days</th><th>Duration</th><th></th></tr></thead>
<tbody>${rows}</tbody></table>`,
  );
}

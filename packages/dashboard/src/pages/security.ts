import { badge, prettyJson, timeTag } from "../format.ts";
import { type Html, html } from "../html.ts";
import type { Cursor, SecurityEvent } from "../queries.ts";
import { layout, type PageContext } from "./layout.ts";
import { encodeCursor } from "./runs.ts";

export interface SecurityPageData {
  events: readonly SecurityEvent[];
  next: Cursor | null;
  source: "events" | "results";
}

/** Security events (suspended agents, rotated keys, held feeds), newest first. */
export function securityPage(ctx: PageContext, data: SecurityPageData): Html {
  const rows = data.events.map(
    (
      event,
    ) => html`<tr data-event="${event.type}"><td>${timeTag(event.at)}</td><td>${badge(event.severity)}</td><td><code>${event.type}</code></td>
<td><a href="${ctx.base}/tasks/${encodeURIComponent(event.taskId)}">${event.taskId}</a></td>
<td>${event.runId ? html`<a href="${ctx.base}/runs/${encodeURIComponent(event.runId)}">run</a>` : ""}</td><td><pre>${prettyJson(event.data)}</pre></td></tr>`,
  );
  const source =
    data.source === "events"
      ? "From the events table: every event a task emitted with security: true."
      : "Derived from the stored results of runs (suspended agents, rotated keys, held feeds); the events table is not there.";
  return layout(
    ctx,
    "Security events",
    html`<h1>Security events</h1><p class="muted small">${source}</p>
<table class="events"><thead><tr><th>At (UTC)</th><th>Severity</th><th>Type</th><th>Task</th><th>Run</th><th>Data</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="6" class="muted">No security event.</td></tr>`}</tbody></table>
<div class="pager">${data.next ? html`<a rel="next" href="${ctx.base}/security?cursor=${encodeCursor(data.next)}">older »</a>` : html`<span class="muted">end</span>`}</div>` as Html,
  );
}

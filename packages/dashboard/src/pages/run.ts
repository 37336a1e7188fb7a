import type { RunRecord } from "@upkeep/core";
import { badge, formatDuration, prettyJson, timeTag } from "../format.ts";
import { type Html, html } from "../html.ts";
import { layout, type PageContext } from "./layout.ts";

/** One run: timings, attempts, result, error and stack, host and pid; live progress while it runs. */
export function runPage(ctx: PageContext, run: RunRecord, timezone: string): Html {
  const live =
    run.status === "running"
      ? html`<section class="notice" data-live="${ctx.base}/runs/${encodeURIComponent(run.id)}/events" data-done="">
<strong>Running.</strong> <progress></progress> <span data-progress-text class="small">waiting for progress…</span>
<div class="muted small">Progress is live for runs in the process serving this page; the page reloads when the run ends.</div></section>`
      : html``;
  return layout(
    ctx,
    `run ${run.id}`,
    html`<h1><a href="${ctx.base}/tasks/${encodeURIComponent(run.taskId)}">${run.taskId}</a> run ${badge(run.status)}</h1>${live}
<dl class="grid">
<dt>Run id</dt><dd><code>${run.id}</code></dd>
<dt>Trigger</dt><dd>${run.trigger}${run.dryRun ? " (dry run)" : ""}</dd>
<dt>Tick</dt><dd>${timeTag(run.scheduledFor, timezone)}</dd>
<dt>Claimed</dt><dd>${timeTag(run.claimedAt, timezone)}</dd>
<dt>Finished</dt><dd>${timeTag(run.finishedAt, timezone)}</dd>
<dt>Duration</dt><dd>${formatDuration(run.durationMs)}</dd>
<dt>Attempts</dt><dd>${run.attempt}</dd>
<dt>Lease until</dt><dd>${timeTag(run.leaseUntil, timezone)}</dd>
<dt>Reason</dt><dd>${run.reason ?? "—"}</dd>
<dt>Host and pid</dt><dd><code>${run.host}</code> pid ${run.pid}</dd></dl>
<h2>Result</h2>${run.result === null || run.result === undefined ? html`<p class="muted">No result.</p>` : html`<pre class="result">${prettyJson(run.result)}</pre>`}
${run.errorMessage || run.errorStack ? html`<h2>Error</h2><p class="error">${run.errorMessage ?? ""}</p>${run.errorStack ? html`<pre class="stack">${run.errorStack}</pre>` : ""}` : ""}`,
  );
}

import type { RunRecord, RunStatus } from "@upkeep/core";
import { type Html, html, raw } from "./html.ts";
import { DAY_MS, type DayOutcomes } from "./queries.ts";

const formats = new Map<string, Intl.DateTimeFormat>();

/** A time as `2026-03-02 14:05:09` in the given IANA timezone. */
export function formatTime(date: Date | null | undefined, timezone = "UTC"): string {
  if (!date) return "—";
  let format = formats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-CA", {
      timeZone: timezone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    formats.set(timezone, format);
  }
  return format.format(date).replace(",", "");
}

/** A `<time>` element: the time in the timezone, the ISO instant as its machine value. */
export function timeTag(date: Date | null | undefined, timezone = "UTC"): Html {
  if (!date) return html`<span class="muted">—</span>`;
  return html`<time datetime="${date.toISOString()}" title="${date.toISOString()}">${formatTime(date, timezone)}</time>`;
}

/** A duration in ms as `850 ms`, `12.4 s`, `3 min 5 s`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A status or health state as a coloured badge (colour by class, so the CSP needs no inline style). */
export function badge(state: string): Html {
  return html`<span class="badge s-${state.replace(/[^a-z_-]/g, "")}">${state.replace("_", " ")}</span>`;
}

/** The figures of a result: its top-level numbers and booleans, and the lengths of its lists. */
export function figures(result: unknown): Array<[string, string]> {
  if (!result || typeof result !== "object" || Array.isArray(result)) return [];
  const out: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(result as Record<string, unknown>)) {
    if (typeof value === "number") out.push([key, String(value)]);
    else if (typeof value === "boolean" && value) out.push([key, "yes"]);
    else if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [inner, innerValue] of Object.entries(value as Record<string, unknown>)) {
        if (typeof innerValue === "number") out.push([`${key}.${inner}`, String(innerValue)]);
      }
    }
    if (out.length >= 8) break;
  }
  return out;
}

export function figureList(result: unknown): Html {
  const list = figures(result);
  if (list.length === 0) return html``;
  return html`<dl class="figures">${list.map(([name, value]) => html`<div><dt>${name}</dt><dd>${value}</dd></div>`)}</dl>`;
}

/** The worst outcome of a day, for its colour in the strip. */
const SEVERITY: readonly RunStatus[] = ["abandoned", "timed_out", "failed", "interrupted", "running", "skipped", "succeeded"];

/** 30 squares, one per UTC day ending today, coloured by the day's worst outcome. */
export function outcomeStrip(days: readonly DayOutcomes[], now: Date, count = 30): Html {
  const today = Math.floor(now.getTime() / DAY_MS);
  const byDay = new Map(days.map((entry) => [entry.day, entry]));
  const cells: Html[] = [];
  for (let offset = count - 1; offset >= 0; offset--) {
    const day = today - offset;
    const entry = byDay.get(day);
    const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
    const worst = entry ? SEVERITY.find((status) => (entry.counts[status] ?? 0) > 0) : undefined;
    const summary = entry
      ? Object.entries(entry.counts)
          .map(([status, runs]) => `${runs} ${status}`)
          .join(", ")
      : "no runs";
    cells.push(
      html`<rect x="${(count - 1 - offset) * 7}" y="0" width="6" height="14" class="d-${worst ?? "none"}"><title>${date}: ${summary}</title></rect>`,
    );
  }
  return html`<svg class="strip" viewBox="0 0 ${count * 7 - 1} 14" width="${count * 7 - 1}" height="14" role="img" aria-label="outcomes of the last ${count} days">${cells}</svg>`;
}

/** The durations of the latest finished runs as a line, failures marked. */
export function sparkline(runs: readonly RunRecord[], width = 120, height = 24): Html {
  const points = runs.filter((run) => run.durationMs !== null);
  if (points.length < 2) return html`<span class="muted">—</span>`;
  const max = Math.max(...points.map((run) => run.durationMs as number), 1);
  const step = width / (points.length - 1);
  const xy = points.map((run, index) => [index * step, height - 2 - ((run.durationMs as number) / max) * (height - 4)] as const);
  const line = xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const marks = xy.flatMap(([x, y], index) =>
    points[index]?.status === "succeeded" ? [] : [html`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="2" class="fail"/>`],
  );
  const label = `durations of the last ${points.length} runs, longest ${formatDuration(max)}`;
  return html`<svg class="spark" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${label}"><title>${label}</title><polyline points="${line}"/>${marks}</svg>`;
}

/** A value as indented JSON, for a `<pre>` (escaped by the template that shows it). */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? "null";
}

export const nbsp = raw("&nbsp;");

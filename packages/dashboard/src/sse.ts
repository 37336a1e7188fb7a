import type { IncomingMessage, ServerResponse } from "node:http";
import type { Progress, RunRecord, Upkeep } from "@upkeep/core";
import type { DashboardData } from "./queries.ts";

/** How often a stream reads the run's row to notice its end (progress itself is pushed). */
const POLL_MS = 1000;
/** A stream ends after this long; the browser's EventSource reconnects by itself. */
const MAX_STREAM_MS = 15 * 60_000;
/** At most this many live streams per dashboard; more get 503. */
const MAX_STREAMS = 100;

export interface StreamOptions {
  request: IncomingMessage;
  response: ServerResponse;
  upkeep: Upkeep;
  data: DashboardData;
  run: RunRecord;
  headers: Record<string, string>;
  streams: Set<() => void>;
  /** The run's latest progress so far, sent first. */
  latest: Progress | undefined;
}

/**
 * Server-sent events for one run: `progress` with each `ctx.progress` the run reports in this
 * process, and `end` once the stored run has an outcome.
 */
export function streamRun({ request, response, upkeep, data, run, headers, streams, latest }: StreamOptions): void {
  if (streams.size >= MAX_STREAMS) {
    response.writeHead(503, { ...headers, "content-type": "text/plain; charset=utf-8", "retry-after": "10" }).end("too many live streams");
    return;
  }
  response.writeHead(200, {
    ...headers,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
  });
  const write = (event: string, payload: unknown) => response.write(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`);
  if (run.status !== "running") {
    write("end", { status: run.status });
    response.end();
    return;
  }
  response.write("retry: 2000\n\n");
  const send = (progress: Progress) =>
    write("progress", { done: progress.done, total: progress.total ?? null, unit: progress.unit ?? null, label: progress.label ?? null });
  if (latest) send(latest);
  let polling = false;
  const off = upkeep.on("run:progress", ({ run: current, progress }) => {
    if (current.id === run.id) send(progress);
  });
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    data.run(run.id).then(
      (current) => {
        polling = false;
        if (current?.status !== "running") {
          write("end", { status: current?.status ?? "gone" });
          stop();
        } else response.write(": alive\n\n");
      },
      () => {
        polling = false;
      },
    );
  }, POLL_MS);
  const limit = setTimeout(() => stop(), MAX_STREAM_MS);
  function stop() {
    clearInterval(poll);
    clearTimeout(limit);
    off();
    streams.delete(stop);
    response.end();
  }
  streams.add(stop);
  request.once("close", stop);
}

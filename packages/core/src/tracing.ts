import { SpanStatusCode, trace } from "@opentelemetry/api";
import type { RunRecord } from "./store/types.ts";

/** A proxy tracer: it follows a tracer provider the host registers later. */
const tracer = trace.getTracer("@upkeep/core");
const FAILED = new Set(["failed", "timed_out", "interrupted", "abandoned"]);

/**
 * Runs `work` inside one OpenTelemetry span, `upkeep.run <task id>`, made active so the task's own
 * instrumented calls (its database queries, its HTTP requests) nest under it. Without an SDK in the
 * host, `@opentelemetry/api` hands out a no-op tracer and this costs next to nothing.
 */
export async function withRunSpan(run: RunRecord, work: () => Promise<RunRecord>): Promise<RunRecord> {
  return tracer.startActiveSpan(`upkeep.run ${run.taskId}`, { attributes: { "upkeep.task.id": run.taskId } }, async (span) => {
    // The other attributes only for a span that records (the task id above is what a sampler sees).
    const recording = span.isRecording();
    if (recording) {
      span.setAttributes({
        "upkeep.run.id": run.id,
        "upkeep.run.trigger": run.trigger,
        "upkeep.run.scheduled_for": run.scheduledFor.toISOString(),
        "upkeep.run.dry_run": run.dryRun,
      });
    }
    try {
      const done = await work();
      if (recording) span.setAttributes({ "upkeep.run.status": done.status, "upkeep.run.attempt": done.attempt });
      if (FAILED.has(done.status)) {
        const message = done.errorMessage ?? done.reason ?? done.status;
        span.recordException({ name: done.status, message, ...(done.errorStack ? { stack: done.errorStack } : {}) });
        span.setStatus({ code: SpanStatusCode.ERROR, message });
      }
      return done;
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: "the run could not be recorded" });
      throw error;
    } finally {
      span.end();
    }
  });
}

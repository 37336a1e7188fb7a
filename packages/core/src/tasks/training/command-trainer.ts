import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import * as z from "zod";
import { TaskError } from "../../errors.ts";
import { parseOrThrow } from "../../validate.ts";
import type { PromotionMetric, Trainer, TrainerResult } from "./trainer.ts";

/** Options of `commandTrainer`. */
export interface CommandTrainerOptions {
  /** The model's name in the registry. */
  name: string;
  /** The program to run, such as `python3`. Run without a shell. */
  command: string;
  /** Its arguments, such as `["train.py"]`. @default [] */
  args?: string[];
  /** Working directory. @default the process's */
  cwd?: string;
  /** Extra environment variables, added to the process's own. @default {} */
  env?: Record<string, string>;
  /** The metric promotion compares, by its key in the metrics the program reports. */
  metric: PromotionMetric;
  /**
   * What is streamed: client-hours, hourly series points, or both.
   * @default "clients"
   */
  dataset?: "clients" | "series" | "both";
  /**
   * Milliseconds the program gets after an abort (timeout, shutdown) to exit on SIGTERM before SIGKILL.
   * @default 2000
   */
  killGrace?: number;
}

const optionsSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, "expected a lower-case model name"),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).default({}),
    metric: z.object({ name: z.string().min(1), higherIsBetter: z.boolean() }).strict(),
    dataset: z.enum(["clients", "series", "both"]).default("clients"),
    killGrace: z.number().int().min(0).default(2000),
  })
  .strict();

const resultSchema = z.union([
  z.object({ skipped: z.string().min(1).max(500) }),
  z.object({ metrics: z.record(z.string(), z.number()), artifact: z.string().min(1) }),
]);

/** The result line's problems, as paths only: a program's output is never echoed. */
function badOutput(name: string, what: string): TaskError {
  return new TaskError(`external trainer ${name}: ${what}`, { reason: "TRAINER_BAD_OUTPUT" });
}

/**
 * A trainer that runs an external program (a Python or PyTorch script, say). The dataset goes to
 * its stdin as JSON lines: first `{"type":"meta", ...}` (window, feature names, seed, hold-out share,
 * `artifactDir`), then one `{"type":"client", ...}` or `{"type":"series", ...}` per row. The program's
 * last stdout line is its result: `{"metrics": {...}, "artifact": "<path>"}` (a path relative to
 * `artifactDir` or absolute) or `{"skipped": "<reason>"}`. The artifact file is stored as bytes.
 * The run's signal bounds it: on timeout or shutdown it gets SIGTERM, then SIGKILL.
 *
 * @throws {ConfigError} naming the invalid option.
 */
export function commandTrainer(options: CommandTrainerOptions): Trainer {
  const settings = parseOrThrow(optionsSchema, options, "commandTrainer options");
  return {
    name: settings.name,
    metric: settings.metric,
    async train(dataset, context): Promise<TrainerResult> {
      const artifactDir = await mkdtemp(join(tmpdir(), "upkeep-trainer-"));
      try {
        const child = spawn(settings.command, settings.args, {
          cwd: settings.cwd,
          env: { ...process.env, ...settings.env, UPKEEP_ARTIFACT_DIR: artifactDir },
          stdio: ["pipe", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          stdout = (stdout + chunk).slice(-1_000_000);
        });
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
          stderr = (stderr + chunk).slice(-2000);
        });
        child.stdin.on("error", () => {});
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
          child.once("error", (error) => resolve({ code: null, signal: null, error }));
          child.once("close", (code, signal) => resolve({ code, signal }));
        });
        let killTimer: NodeJS.Timeout | undefined;
        const onAbort = () => {
          child.kill("SIGTERM");
          killTimer = setTimeout(() => child.kill("SIGKILL"), settings.killGrace);
          killTimer.unref();
        };
        if (context.signal.aborted) onAbort();
        else context.signal.addEventListener("abort", onAbort, { once: true });
        try {
          const lines = datasetLines(dataset, settings.dataset, { seed: context.seed, holdout: context.holdout, artifactDir });
          for (const line of lines) {
            if (context.signal.aborted || child.stdin.destroyed || child.exitCode !== null) break;
            if (!child.stdin.write(`${line}\n`)) await Promise.race([once(child.stdin, "drain"), exited]);
          }
          child.stdin.end();
          const outcome = await exited;
          if (context.signal.aborted) throw new TaskError(`external trainer ${settings.name} stopped (${String(context.signal.reason)})`);
          if (outcome.error) throw new TaskError(`external trainer ${settings.name} could not start`, { cause: outcome.error });
          if (outcome.code !== 0) {
            context.logger.warn({ trainer: settings.name, exitCode: outcome.code, stderr }, "[upkeep] external trainer failed");
            throw new TaskError(`external trainer ${settings.name} exited with ${outcome.code ?? outcome.signal}`, {
              reason: "TRAINER_FAILED",
            });
          }
          const last = stdout.trim().split("\n").pop() ?? "";
          let parsed: unknown;
          try {
            parsed = JSON.parse(last);
          } catch {
            throw badOutput(settings.name, "its last stdout line is not JSON");
          }
          const result = resultSchema.safeParse(parsed);
          if (!result.success)
            throw badOutput(settings.name, 'expected {"metrics": {name: number}, "artifact": path} or {"skipped": reason}');
          if ("skipped" in result.data) return { skipped: result.data.skipped };
          const path = isAbsolute(result.data.artifact) ? result.data.artifact : join(artifactDir, result.data.artifact);
          let bytes: Buffer;
          try {
            bytes = await readFile(path);
          } catch {
            throw badOutput(settings.name, "its artifact file cannot be read");
          }
          return { metrics: result.data.metrics, artifact: { format: "bytes", value: new Uint8Array(bytes) } };
        } finally {
          context.signal.removeEventListener("abort", onAbort);
          if (killTimer) clearTimeout(killTimer);
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        }
      } finally {
        await rm(artifactDir, { recursive: true, force: true });
      }
    },
  };
}

function* datasetLines(
  dataset: Parameters<Trainer["train"]>[0],
  which: "clients" | "series" | "both",
  extra: { seed: number; holdout: number; artifactDir: string },
): Generator<string> {
  yield JSON.stringify({
    type: "meta",
    window: dataset.window,
    historyFrom: dataset.historyFrom,
    featureNames: dataset.featureNames,
    hasLabels: dataset.hasLabels,
    ...extra,
  });
  if (which !== "clients") for (const point of dataset.series) yield JSON.stringify({ type: "series", ...point });
  if (which !== "series") for (const row of dataset.clients) yield JSON.stringify({ type: "client", ...row });
}

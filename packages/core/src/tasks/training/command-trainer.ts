import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import * as z from "zod";
import { TaskError } from "../../errors.ts";
import { parseOrThrow } from "../../validate.ts";
import { encodeArtifact } from "./registry.ts";
import type { ChampionScore, ModelArtifact, PromotionMetric, Trainer, TrainerResult } from "./trainer.ts";

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
  /**
   * Environment variables set for the program. It gets no other variable of the host's but `PATH`,
   * the locale (`LANG`, `LANGUAGE`, `LC_*`), `TMPDIR` and `UPKEEP_ARTIFACT_DIR`, and those named in
   * `inheritEnv`: the host's secrets (database URLs, the IP-hash key) never reach it.
   * @default {}
   */
  env?: Record<string, string>;
  /**
   * Names of host environment variables the program inherits (such as `["HOME", "VIRTUAL_ENV"]`).
   * @default []
   */
  inheritEnv?: string[];
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
    inheritEnv: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name")).default([]),
    metric: z.object({ name: z.string().min(1), higherIsBetter: z.boolean(), best: z.number().optional() }).strict(),
    dataset: z.enum(["clients", "series", "both"]).default("clients"),
    killGrace: z.number().int().min(0).default(2000),
  })
  .strict();

const metricsSchema = z.record(z.string(), z.number());
const resultSchema = z.union([
  z.object({ skipped: z.string().min(1).max(500) }),
  z.object({
    metrics: metricsSchema,
    artifact: z.string().min(1),
    championMetrics: metricsSchema.optional(),
    holdout: z.object({ from: z.number(), to: z.number(), rows: z.number().int().min(0) }).optional(),
  }),
]);

/** Host variables every program gets: how to find programs, the locale and the temporary folder. */
const BASE_ENV = /^(PATH|LANG|LANGUAGE|LC_[A-Z_]+|SYSTEMROOT|WINDIR)$/;

/** The program's whole environment: the base variables, the inherited names, `env`, and the folders. */
function trainerEnvironment(
  host: NodeJS.ProcessEnv,
  settings: { env: Record<string, string>; inheritEnv: string[] },
  artifactDir: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(host)) {
    if (value !== undefined && (BASE_ENV.test(key) || settings.inheritEnv.includes(key))) out[key] = value;
  }
  return { ...out, TMPDIR: tmpdir(), ...settings.env, UPKEEP_ARTIFACT_DIR: artifactDir };
}

/**
 * The artifact's real path when it is inside the artifact folder, after resolving `..` and symbolic
 * links; else what is wrong with it.
 */
async function confinedPath(artifactDir: string, reported: string): Promise<{ path: string } | { problem: string }> {
  const root = await realpath(artifactDir);
  const outside = { problem: "its artifact is not a file inside $UPKEEP_ARTIFACT_DIR" };
  const inside = (path: string) => path.startsWith(root + sep);
  const lexical = resolve(root, reported);
  if (!inside(lexical)) return outside;
  try {
    const path = await realpath(lexical);
    return inside(path) ? { path } : outside;
  } catch {
    return { problem: "its artifact file cannot be read" };
  }
}

/** The result line's problems, as paths only: a program's output is never echoed. */
function badOutput(name: string, what: string): TaskError {
  return new TaskError(`external trainer ${name}: ${what}`, { reason: "TRAINER_BAD_OUTPUT" });
}

/**
 * A trainer that runs an external program (a Python or PyTorch script, say). The dataset goes to
 * its stdin as JSON lines: first `{"type":"meta", ...}` (window, feature names, seed, hold-out share,
 * `artifactDir`, and `champion`, the file name of the current champion's artifact in `artifactDir`
 * when there is one), then one `{"type":"client", ...}` or `{"type":"series", ...}` per row. The
 * program's last stdout line is its result: `{"metrics": {...}, "artifact": "<path>"}` (a path inside
 * `artifactDir`; anything outside it is refused), optionally with `"championMetrics": {...}` (the
 * champion scored on the same hold-out, which promotion then compares) and `"holdout": {"from",
 * "to", "rows"}`; or `{"skipped": "<reason>"}`. The artifact file is stored as bytes. The program's
 * environment is minimal (see `env`). The run's signal bounds it: on timeout or shutdown it gets
 * SIGTERM, then SIGKILL.
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
          env: trainerEnvironment(process.env, settings, artifactDir),
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
          const champion = context.champion ? await writeChampion(artifactDir, context.champion) : undefined;
          const lines = datasetLines(dataset, settings.dataset, {
            seed: context.seed,
            holdout: context.holdout,
            artifactDir,
            ...(champion ? { champion } : {}),
          });
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
          const confined = await confinedPath(artifactDir, result.data.artifact);
          if ("problem" in confined) throw badOutput(settings.name, confined.problem);
          let bytes: Buffer;
          try {
            bytes = await readFile(confined.path);
          } catch {
            throw badOutput(settings.name, "its artifact file cannot be read");
          }
          const { metrics, championMetrics, holdout } = result.data;
          let championScore: ChampionScore | undefined;
          if (champion) {
            championScore = championMetrics
              ? { metrics: championMetrics }
              : { unscored: "the program did not report championMetrics for the champion it was given" };
          }
          return {
            metrics,
            artifact: { format: "bytes", value: new Uint8Array(bytes) },
            ...(holdout ? { holdout } : {}),
            ...(championScore ? { champion: championScore } : {}),
          };
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

/** Writes the champion's artifact into the artifact folder for the program to score; returns its file name. */
async function writeChampion(artifactDir: string, artifact: ModelArtifact): Promise<string> {
  const name = artifact.format === "bytes" ? "champion.bin" : "champion.json";
  await writeFile(join(artifactDir, name), artifact.format === "bytes" ? artifact.value : encodeArtifact(artifact));
  return name;
}

function* datasetLines(
  dataset: Parameters<Trainer["train"]>[0],
  which: "clients" | "series" | "both",
  extra: { seed: number; holdout: number; artifactDir: string; champion?: string },
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

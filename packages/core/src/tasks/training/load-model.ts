import type { Knex } from "knex";
import { UpkeepError } from "../../errors.ts";
import { type LogisticModel, scoreLogistic } from "./classifier.ts";
import { type ForecastModel, type ForecastPoint, forecastModel } from "./forecaster.ts";
import { findChampion, listStoredModels, readArtifact, type StoredModel } from "./registry.ts";
import type { ModelArtifact } from "./trainer.ts";

/** Options of `loadModel`. */
export interface LoadModelOptions {
  /**
   * Prefix of upkeep's tables.
   * @default "upkeep_"
   */
  tablePrefix?: string;
  /**
   * Milliseconds between checks for a newer champion; 0 checks only when `reload()` is called.
   * @default 60000
   */
  refreshEvery?: number;
}

/** The champion of a model name, ready to use in the host. */
export interface LoadedModel {
  /** The registry row of the model being served now. */
  readonly info: StoredModel;
  /** Its artifact: JSON for the built-in trainers, bytes for an external one. */
  readonly artifact: ModelArtifact;
  /**
   * Threat probability (0..1) of one client-hour's features (`requests`, `errorShare`, `endpoints`,
   * `ioc`, host extras). Built-in classifier models only.
   */
  score(features: Record<string, number>): number;
  /** Whether one client-hour's score reaches the model's stored decision threshold. Built-in classifier models only. */
  classify(features: Record<string, number>): boolean;
  /** Hourly p95 latency and error rate for the next `hours` hours of a series (`platform` or an endpoint). Built-in forecaster models only. */
  forecast(series: string, hours: number): ForecastPoint[];
  /** Loads the champion again if a newer one was promoted; resolves true when it switched. */
  reload(): Promise<boolean>;
  /** Stops the periodic reload. */
  close(): void;
}

const typeOf = (artifact: ModelArtifact) =>
  artifact.format === "json" && typeof artifact.value === "object" && artifact.value !== null
    ? (artifact.value as { type?: unknown }).type
    : undefined;

/**
 * Loads the champion of `name` from the model registry, and swaps in a newer champion when one
 * appears (checked every `refreshEvery` ms, or on `reload()`). A failed check keeps the current model.
 *
 * @throws {UpkeepError} `MODEL_NOT_FOUND` when the name has no champion.
 */
export async function loadModel(db: Knex, name: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const prefix = options.tablePrefix ?? "upkeep_";
  const fetch = async () => {
    const info = await findChampion(db, prefix, name);
    if (!info) throw new UpkeepError("MODEL_NOT_FOUND", `no champion model named "${name}" (has the training task run?)`);
    return { info, artifact: await readArtifact(db, prefix, info.id) };
  };
  let current = await fetch();

  const reload = async () => {
    const info = await findChampion(db, prefix, name);
    if (!info || info.id === current.info.id) return false;
    current = { info, artifact: await readArtifact(db, prefix, info.id) };
    return true;
  };
  const every = options.refreshEvery ?? 60_000;
  const timer =
    every > 0
      ? setInterval(() => {
          reload().catch(() => {});
        }, every)
      : undefined;
  timer?.unref();

  const classifierOf = () => {
    if (typeOf(current.artifact) !== "upkeep.logistic-regression") {
      throw new UpkeepError("MODEL_NOT_FOUND", `model "${name}" is not a built-in classifier; read its artifact instead`);
    }
    return (current.artifact as { value: LogisticModel }).value;
  };

  return {
    get info() {
      return current.info;
    },
    get artifact() {
      return current.artifact;
    },
    score(features) {
      return scoreLogistic(classifierOf(), features);
    },
    classify(features) {
      const model = classifierOf();
      return scoreLogistic(model, features) >= model.threshold;
    },
    forecast(series, hours) {
      if (typeOf(current.artifact) !== "upkeep.holt-winters") {
        throw new UpkeepError("MODEL_NOT_FOUND", `model "${name}" is not a built-in forecaster; read its artifact instead`);
      }
      return forecastModel((current.artifact as { value: ForecastModel }).value, series, hours);
    },
    reload,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}

/** Every stored version of a model name, newest first, without artifacts: champion, candidates and history. */
export function listModels(db: Knex, name: string, options: Pick<LoadModelOptions, "tablePrefix"> = {}): Promise<StoredModel[]> {
  return listStoredModels(db, options.tablePrefix ?? "upkeep_", name);
}

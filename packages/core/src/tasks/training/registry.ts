import { createHash, randomUUID } from "node:crypto";
import type { Knex } from "knex";
import { TaskError } from "../../errors.ts";
import { isUniqueViolation } from "../../store/knex-store.ts";
import type { PromotionDecision } from "./promotion.ts";
import type { ModelArtifact } from "./trainer.ts";

/** A model in the registry (`<prefix>models`), without its artifact. */
export interface StoredModel {
  /** The registry row's id. */
  id: string;
  /** The model's name, such as `threat-classifier`. */
  name: string;
  /** 1 for the first model of this name, then one more for each stored after it. */
  version: number;
  /** Whether it is the model `loadModel` serves. */
  champion: boolean;
  /** Its hold-out metrics, by name (such as `auc`). */
  metrics: Record<string, number>;
  /** The data window it was trained on. */
  window: {
    /** The window's start, inclusive. */
    from: Date;
    /** The window's end, exclusive. */
    to: Date;
  };
  /** The training run that stored it; null when it was stored outside a run. */
  runId: string | null;
  /** When it was stored. */
  createdAt: Date;
  /** Why it was promoted or kept as a candidate. */
  reason: string | null;
  /** The numbers behind `reason`: both scores, the gain and the hold-out; null for models stored before it was kept. */
  decision: PromotionDecision | null;
  /** How its artifact is stored: `json` or `bytes`. */
  artifactFormat: ModelArtifact["format"];
}

/** What a new model row holds. */
export interface NewModel {
  name: string;
  metrics: Record<string, number>;
  window: { from: number; to: number };
  runId: string | null;
  createdAt: number;
  reason: string;
  decision?: PromotionDecision;
  artifact: ModelArtifact;
}

type Row = Record<string, unknown>;
const num = (value: unknown) => Number(value);

function toModel(row: Row): StoredModel {
  return {
    id: String(row.id),
    name: String(row.name),
    version: num(row.version),
    champion: Boolean(row.champion),
    metrics: JSON.parse(String(row.metrics)) as Record<string, number>,
    window: { from: new Date(num(row.window_from)), to: new Date(num(row.window_to)) },
    runId: (row.run_id as string | null) ?? null,
    createdAt: new Date(num(row.created_at)),
    reason: (row.reason as string | null) ?? null,
    decision: typeof row.decision === "string" ? (JSON.parse(row.decision) as PromotionDecision) : null,
    artifactFormat: row.artifact_format === "bytes" ? "bytes" : "json",
  };
}

const COLUMNS = [
  "id",
  "name",
  "version",
  "champion",
  "metrics",
  "window_from",
  "window_to",
  "run_id",
  "created_at",
  "reason",
  "decision",
  "artifact_format",
];

/** Text form of an artifact as stored: JSON, or base64 for bytes. */
export function encodeArtifact(artifact: ModelArtifact): string {
  return artifact.format === "json" ? JSON.stringify(artifact.value) : Buffer.from(artifact.value).toString("base64");
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The champion of a model name, without its artifact. */
export async function findChampion(db: Knex, prefix: string, name: string): Promise<StoredModel | undefined> {
  const row = (await db(`${prefix}models`).select(COLUMNS).where({ name, champion: true }).first()) as Row | undefined;
  return row && toModel(row);
}

/** Every stored version of a model name, newest first, without artifacts. */
export async function listStoredModels(db: Knex, prefix: string, name: string): Promise<StoredModel[]> {
  const rows = (await db(`${prefix}models`).select(COLUMNS).where({ name }).orderBy("version", "desc")) as Row[];
  return rows.map(toModel);
}

/** The artifact of a stored model, checked against its digest. */
export async function readArtifact(db: Knex, prefix: string, id: string): Promise<ModelArtifact> {
  const row = (await db(`${prefix}models`).select("artifact", "artifact_format", "artifact_sha256").where({ id }).first()) as
    | Row
    | undefined;
  if (!row) throw new TaskError(`model ${id} is not in the registry`);
  const text = String(row.artifact);
  if (sha256(text) !== row.artifact_sha256) throw new TaskError(`model ${id}: the stored artifact does not match its digest`);
  return row.artifact_format === "bytes"
    ? { format: "bytes", value: new Uint8Array(Buffer.from(text, "base64")) }
    : { format: "json", value: JSON.parse(text) as unknown };
}

/** What runs inside the save transaction. */
export interface SaveHooks {
  /**
   * Runs after the model is stored (and promoted), in its transaction: what it writes through `trx`
   * (the training task's `model.promoted` event) commits with the model, or not at all.
   */
  within?: (trx: Knex.Transaction, model: StoredModel) => Promise<void>;
  /** Test seam: runs after every write, just before the commit. */
  beforeCommit?: () => Promise<void> | void;
}

/**
 * Stores a model and, when `promote`, makes it the champion, all in one transaction: the artifact,
 * the row and the champion switch commit together or not at all, so a crash at any point leaves
 * the previous champion in place and no half-written model.
 */
export async function saveModel(db: Knex, prefix: string, model: NewModel, promote: boolean, hooks: SaveHooks = {}): Promise<StoredModel> {
  const table = `${prefix}models`;
  const artifact = encodeArtifact(model.artifact);
  try {
    return await db.transaction(async (trx) => {
      const latest = (await trx(table).where({ name: model.name }).max({ version: "version" }).first()) as Row | undefined;
      const version = num(latest?.version ?? 0) + 1;
      const id = randomUUID();
      await trx(table).insert({
        id,
        name: model.name,
        version,
        champion: false,
        metrics: JSON.stringify(model.metrics),
        window_from: model.window.from,
        window_to: model.window.to,
        run_id: model.runId,
        created_at: model.createdAt,
        reason: model.reason.slice(0, 512),
        decision: model.decision ? JSON.stringify(model.decision) : null,
        artifact_format: model.artifact.format,
        artifact_sha256: sha256(artifact),
        artifact,
      });
      if (promote) {
        await trx(table).where({ name: model.name, champion: true }).update({ champion: false });
        await trx(table).where({ id }).update({ champion: true });
      }
      const stored = toModel((await trx(table).select(COLUMNS).where({ id }).first()) as Row);
      await hooks.within?.(trx, stored);
      await hooks.beforeCommit?.();
      return stored;
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new TaskError(`model ${model.name}: another run stored the same version`, { retryable: true, cause: error });
    }
    throw error;
  }
}

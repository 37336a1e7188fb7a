import type { Knex } from "knex";
import { ConfigError } from "../errors.ts";
import { kekFor } from "./crypto.ts";
import type { KekProvider } from "./kek.ts";
import { keyringTable } from "./keyring.ts";

/** Options of `rewrapKeys`: where the keyring is, and which KEKs unwrap and wrap it. */
export interface RewrapOptions {
  /** The host's knex instance holding `<prefix>keys`. */
  db: Knex;
  /** The new KEK: every data key ends wrapped by it. */
  kek: KekProvider;
  /** The KEKs that wrap keys now; each key is unwrapped by the one whose id it names. */
  previousKeks: readonly KekProvider[];
  /** Where `<prefix>keys` lives. @default "upkeep_" */
  tablePrefix?: string;
  /** Count what would change and change nothing. @default false */
  dryRun?: boolean;
}

/** What a rewrap did: key ids only. */
export interface RewrapResult {
  /** Whether this was a dry run, which changed nothing. */
  dryRun: boolean;
  /** The id of the KEK the keys are (or would be) wrapped by. */
  kekId: string;
  /** Keys now wrapped by the new KEK (or that would be, in a dry run). */
  rewrapped: string[];
  /** Keys already wrapped by it. */
  unchanged: string[];
  /** Keys changed by another process while this ran; run again. */
  conflicts: string[];
}

/**
 * KEK rotation: re-wraps every data key under `kek`, one compare-and-set update per key. Data
 * rows are not touched, since their data keys do not change. Safe to rerun.
 *
 * @throws {UpkeepError} `KEK_FAILED` when a key names a KEK that is not given, before anything is written.
 */
export async function rewrapKeys(options: RewrapOptions): Promise<RewrapResult> {
  if (typeof options?.kek?.wrap !== "function") {
    throw new ConfigError("invalid rewrap options", [{ path: "kek", message: "expected a KEK provider" }]);
  }
  const table = keyringTable(options.db, options.tablePrefix ?? "upkeep_");
  const keks = [options.kek, ...options.previousKeks];
  const keys = await table.load();
  const stale = keys.filter((key) => key.kekId !== options.kek.id);
  for (const key of stale) kekFor(key.kekId, keks, key.id);
  const result: RewrapResult = {
    dryRun: options.dryRun ?? false,
    kekId: options.kek.id,
    rewrapped: [],
    unchanged: keys.filter((key) => key.kekId === options.kek.id).map((key) => key.id),
    conflicts: [],
  };
  for (const key of stale) {
    const material = await kekFor(key.kekId, keks, key.id).unwrap(key.wrapped, { keyId: key.id });
    if (result.dryRun) {
      result.rewrapped.push(key.id);
      continue;
    }
    const wrapped = await options.kek.wrap(material, { keyId: key.id });
    const changed = await table.rewrap(key.id, { wrapped: key.wrapped, kekId: key.kekId }, { wrapped, kekId: options.kek.id });
    (changed ? result.rewrapped : result.conflicts).push(key.id);
  }
  return result;
}

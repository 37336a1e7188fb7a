import type { Knex } from "knex";
import { isUniqueViolation } from "../store/knex-store.ts";

/** A data key as the keyring lists it: never its material. */
export interface KeyInfo {
  /** The data key's id, named in every ciphertext it encrypted. */
  id: string;
  /** 1 for the first key, one more for each rotation; the highest unretired one is active. */
  generation: number;
  /** Its cipher, `aes-256-gcm`. */
  algorithm: string;
  /** The KEK that wraps it. */
  kekId: string;
  /** When it was made. */
  createdAt: Date;
  /** Set once no registered row uses it; a retired key still decrypts. */
  retiredAt: Date | null;
  /** `active` (encrypts), `old` (still decrypts, rows move off it) or `retired` (no registered row uses it). */
  status: "active" | "old" | "retired";
}

/** A keyring row with its wrapped material. */
export interface StoredKey extends KeyInfo {
  wrapped: string;
}

type Row = Record<string, unknown>;
const num = (value: unknown) => (typeof value === "number" ? value : Number(value));

/** Reads and writes `<prefix>keys`. */
export function keyringTable(db: Knex, prefix: string) {
  const table = `${prefix}keys`;
  return {
    name: table,
    async load(): Promise<StoredKey[]> {
      const rows = (await db(table).select("*").orderBy("generation", "desc")) as Row[];
      const activeGeneration = rows.find((row) => row.retired_at === null || row.retired_at === undefined)?.generation;
      return rows.map((row) => {
        const retiredAt = row.retired_at === null || row.retired_at === undefined ? null : new Date(num(row.retired_at));
        return {
          id: String(row.id),
          generation: num(row.generation),
          algorithm: String(row.algorithm),
          kekId: String(row.kek_id),
          wrapped: String(row.wrapped_key),
          createdAt: new Date(num(row.created_at)),
          retiredAt,
          status: retiredAt ? "retired" : row.generation === activeGeneration ? "active" : "old",
        };
      });
    },
    /** Inserts a key; false when another process took the same generation first. */
    async insert(key: Omit<StoredKey, "status" | "retiredAt">): Promise<boolean> {
      try {
        await db(table).insert({
          id: key.id,
          generation: key.generation,
          algorithm: key.algorithm,
          wrapped_key: key.wrapped,
          kek_id: key.kekId,
          created_at: key.createdAt.getTime(),
          retired_at: null,
        });
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
    async retire(id: string, at: Date): Promise<boolean> {
      return (await db(table).where({ id }).whereNull("retired_at").update({ retired_at: at.getTime() })) > 0;
    },
    /** Replaces a key's wrapped material if it is still what was read (compare-and-set). */
    async rewrap(id: string, from: { wrapped: string; kekId: string }, to: { wrapped: string; kekId: string }): Promise<boolean> {
      const changed = await db(table)
        .where({ id, wrapped_key: from.wrapped, kek_id: from.kekId })
        .update({ wrapped_key: to.wrapped, kek_id: to.kekId });
      return changed > 0;
    },
  };
}

export type KeyringTable = ReturnType<typeof keyringTable>;

/** A key's public fields. */
export function keyInfo(key: StoredKey): KeyInfo {
  const { wrapped: _wrapped, ...info } = key;
  return info;
}

import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Knex } from "knex";
import { type Duration, parseDuration } from "../duration.ts";
import { ConfigError, UpkeepError } from "../errors.ts";
import { type Envelope, keyIdOf, openEnvelope, parseEnvelope, sealEnvelope } from "./envelope.ts";
import { isKekProvider, type KekProvider } from "./kek.ts";
import { type KeyInfo, type KeyringTable, keyInfo, keyringTable, type StoredKey } from "./keyring.ts";

export const DEK_ALGORITHM = "aes-256-gcm";

/** Options of one encrypt or decrypt call. */
export interface CryptoCallOptions {
  /**
   * Associated data: authenticated, not stored. Bind a ciphertext to its place (table, column,
   * row id; see `rowAad`) so a ciphertext copied to another row fails to decrypt. Decrypt must
   * get the same value.
   */
  aad?: string | Uint8Array;
}

/** Envelope encryption with the keyring in `<prefix>keys`: what `upkeep.crypto` is. */
export interface UpkeepCrypto {
  /** The id of the KEK that wraps new data keys (a name or fingerprint, never key material). */
  readonly kekId: string;
  /** Encrypts with the active data key (made on first use when the keyring is empty). */
  encrypt(plaintext: string | Uint8Array, options?: CryptoCallOptions): Promise<string>;
  /**
   * Decrypts with the key the ciphertext names, reloading the keyring once for a key id it has not seen.
   * @throws {UpkeepError} `DECRYPT_FAILED` (altered, truncated, wrong aad, unknown version), `KEY_NOT_FOUND`, `KEK_FAILED`.
   */
  decrypt(ciphertext: string, options?: CryptoCallOptions): Promise<string>;
  /** As `decrypt`, returning bytes. */
  decryptBytes(ciphertext: string, options?: CryptoCallOptions): Promise<Buffer>;
  /** The key id a ciphertext names, or undefined when it is not an upkeep ciphertext. */
  keyIdOf(ciphertext: unknown): string | undefined;
  /** The keyring, newest first, without key material. */
  keys(): Promise<KeyInfo[]>;
  /**
   * The key `encrypt` uses: the newest unretired key wrapped by a KEK this process has (`kek` or
   * `previousKeks`). It is the keyring's active key except while another process, already on a newer
   * KEK, has added a key this one cannot unwrap.
   */
  activeKey(): Promise<KeyInfo | undefined>;
  /**
   * Checks that the configured KEKs unwrap the keyring's active key; returns it (undefined for an
   * empty keyring). The key-rotation task calls this before it writes anything.
   * @throws {UpkeepError} `KEK_FAILED` naming the KEK ids (never key material).
   */
  verifyKek(): Promise<KeyInfo | undefined>;
  /**
   * Adds a new data key and makes it active; returns it. Rows move to it when the key-rotation task
   * runs. Refuses (`KEK_FAILED`, writing nothing) unless the configured KEKs unwrap the active key,
   * and the new key is committed only once `kek` has unwrapped what was stored.
   */
  rotate(options?: RotateOptions): Promise<KeyInfo>;
  /**
   * Marks a key retired: no longer listed as in use; it still decrypts. The key-rotation task calls
   * this at zero rows. Returns false for the active key or one already retired.
   */
  retire(id: string, options?: RetireOptions): Promise<boolean>;
  /** Forgets the cached keyring; the next call reads it again. */
  reload(): Promise<void>;
}

/** Options of `rotate`. */
export interface RotateOptions {
  /**
   * Runs inside the transaction that adds the key, once it is proven readable: what it writes
   * through `trx` (the key-rotation task's `key-rotation.rotated` event) commits with the new key,
   * or not at all.
   */
  within?: (trx: Knex.Transaction, key: KeyInfo) => Promise<void>;
}

/** Options of `retire`. */
export interface RetireOptions {
  /**
   * Runs inside the transaction that retires the key, only when it did: what it writes through
   * `trx` (the key-rotation task's `key-rotation.retired` event) commits with the retirement, or not at all.
   */
  within?: (trx: Knex.Transaction, key: KeyInfo) => Promise<void>;
}

/** Options of `createCrypto`: the database holding the keyring and the key-encryption keys. */
export interface CryptoOptions {
  /** The host's knex instance holding `<prefix>keys` (run `upkeep migrate` first). */
  db: Knex;
  /** The key-encryption key that wraps new data keys. */
  kek: KekProvider;
  /** Former KEKs, still able to unwrap keys until `upkeep keys rewrap` moved them to `kek`. @default [] */
  previousKeks?: readonly KekProvider[];
  /** Where `<prefix>keys` lives. @default "upkeep_" */
  tablePrefix?: string;
  /** The clock that stamps a new data key's creation time. @default () => new Date() */
  clock?: () => Date;
  /**
   * How long the keyring is cached before it is read again, so every process moves to a new active
   * key within this time. An unknown key id on decrypt reloads at once.
   * @default "1m"
   */
  cacheFor?: Duration;
}

/** The configuration's `crypto` section: `createCrypto` options the handle fills from the config. */
export type CryptoConfig = Omit<CryptoOptions, "db" | "tablePrefix" | "clock">;

/** Associated data naming a row's column: `table/column/id`. Use the same on encrypt and decrypt. */
export function rowAad(table: string, column: string, id: string | number | bigint): string {
  return `${table}/${column}/${String(id)}`;
}

/** Finds the KEK that wrapped a key, by its stored id. */
export function kekFor(kekId: string, keks: readonly KekProvider[], keyId: string): KekProvider {
  const kek = keks.find((candidate) => candidate.id === kekId);
  if (!kek) {
    throw new UpkeepError(
      "KEK_FAILED",
      `data key ${keyId} is wrapped by KEK "${kekId}", which is not configured (configured: ${keks.map((k) => `"${k.id}"`).join(", ")}); add it to previousKeks, then run \`upkeep keys rewrap\``,
    );
  }
  return kek;
}

interface Loaded {
  at: number;
  keys: Map<string, StoredKey>;
  /** The keyring's active key: the highest unretired generation. */
  newest: StoredKey | undefined;
  /** The key `encrypt` uses: the newest unretired key whose KEK is configured. */
  active: StoredKey | undefined;
}

/** Thrown inside the add-key transaction to roll it back. */
const RACED = Symbol("raced");

/**
 * Envelope encryption for host code: AES-256-GCM under data keys kept in `<prefix>keys`, each
 * wrapped by the KEK. Ciphertexts are text (`upk1:<key id>:<base64url>`), so they fit a text column.
 */
export function createCrypto(options: CryptoOptions): UpkeepCrypto {
  if (!isKekProvider(options?.kek)) {
    throw new ConfigError("invalid crypto options", [{ path: "crypto.kek", message: "expected a KEK provider such as envKek()" }]);
  }
  const prefix = options.tablePrefix ?? "upkeep_";
  const table: KeyringTable = keyringTable(options.db, prefix);
  const keks = [options.kek, ...(options.previousKeks ?? [])];
  // Read when used, not here: an unset envKek() variable fails where the KEK is needed, naming it.
  const kekIds = () => new Set(keks.map((kek) => kek.id));
  const clock = options.clock ?? (() => new Date());
  const cacheMs = parseDuration(options.cacheFor ?? "1m");
  if (cacheMs === undefined) throw new ConfigError("invalid crypto options", [{ path: "crypto.cacheFor", message: "expected a duration" }]);
  const unwrapped = new Map<string, Promise<Uint8Array>>();
  let loaded: Promise<Loaded> | undefined;

  const load = (): Promise<Loaded> => {
    const reading = table.load().then((rows) => ({
      at: Date.now(),
      keys: new Map(rows.map((row) => [row.id, row])),
      newest: rows.find((row) => row.status === "active"),
      active: rows.find((row) => row.retiredAt === null && kekIds().has(row.kekId)),
    }));
    loaded = reading;
    reading.catch(() => {
      if (loaded === reading) loaded = undefined;
    });
    return reading;
  };
  const current = async (): Promise<Loaded> => {
    const state = await (loaded ?? load());
    return Date.now() - state.at > cacheMs ? load() : state;
  };

  const dataKey = (key: StoredKey): Promise<Uint8Array> => {
    const cacheKey = `${key.id}\u0000${key.kekId}\u0000${key.wrapped}`;
    let pending = unwrapped.get(cacheKey);
    if (!pending) {
      pending = Promise.resolve().then(() => kekFor(key.kekId, keks, key.id).unwrap(key.wrapped, { keyId: key.id }));
      unwrapped.set(cacheKey, pending);
      pending.catch(() => unwrapped.delete(cacheKey));
    }
    return pending;
  };

  /** Unwraps a key with the configured KEK its row names, refusing with the KEK ids (no cause: a provider's error may quote its input). */
  const unwrapOrRefuse = async (key: StoredKey, what: string): Promise<Uint8Array> => {
    const kek = keks.find((candidate) => candidate.id === key.kekId);
    if (!kek) {
      throw new UpkeepError(
        "KEK_FAILED",
        `${what} ${key.id} is wrapped by KEK "${key.kekId}", which is not configured (configured: ${[...kekIds()].map((id) => `"${id}"`).join(", ")}): deploy the KEK that wraps the keyring or, during a KEK rotation, add it to previousKeks; nothing was written`,
      );
    }
    try {
      return await kek.unwrap(key.wrapped, { keyId: key.id });
    } catch {
      throw new UpkeepError(
        "KEK_FAILED",
        `KEK "${kek.id}" could not unwrap ${what} ${key.id} (a different key under the same KEK id, an altered row, or the provider failed); nothing was written`,
      );
    }
  };

  /**
   * Adds the next generation in one transaction that first unwraps the active key with the
   * configured KEKs, then inserts the new key, reads the stored row back and unwraps it with `kek`:
   * the key becomes visible to other processes only once it is proven readable. A KEK that wraps
   * what it cannot unwrap, or one that is not the keyring's, leaves the keyring as it was. With
   * `firstOnly`, a keyring that has an active key is left alone (another process made the first key).
   */
  const addKey = async (firstOnly: boolean, within?: RotateOptions["within"]): Promise<StoredKey | undefined> => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = randomBytes(8).toString("hex");
      const material = randomBytes(32);
      const wrapped = await options.kek.wrap(material, { keyId: id });
      try {
        const stored = await options.db.transaction(async (trx) => {
          const ring = keyringTable(trx, prefix);
          const rows = await ring.load();
          const newest = rows.find((row) => row.status === "active");
          if (firstOnly && newest) return undefined;
          if (newest) await unwrapOrRefuse(newest, "the active data key");
          const generation = Math.max(0, ...rows.map((row) => row.generation)) + 1;
          const key = { id, generation, algorithm: DEK_ALGORITHM, kekId: options.kek.id, wrapped, createdAt: clock() };
          if (!(await ring.insert(key))) throw RACED;
          const written = (await ring.load()).find((row) => row.id === id);
          const back = written && (await unwrapOrRefuse(written, "the new data key"));
          if (!back || back.length !== material.length || !timingSafeEqual(back, material)) {
            throw new UpkeepError(
              "KEK_FAILED",
              `KEK "${options.kek.id}" did not unwrap the new data key ${id} to what it wrapped; nothing was written`,
            );
          }
          await within?.(trx, keyInfo(written));
          return written;
        });
        if (stored) unwrapped.set(`${id}\u0000${stored.kekId}\u0000${stored.wrapped}`, Promise.resolve(material));
        await load();
        return stored;
      } catch (error) {
        if (error !== RACED) throw error;
      }
    }
    throw new UpkeepError("KEY_NOT_FOUND", "could not add a data key: other processes kept adding keys at the same time");
  };

  const activeForEncrypt = async (): Promise<StoredKey> => {
    const state = await current();
    if (state.active) return state.active;
    // Empty keyring: make the first key. A process racing us makes it first, and we use theirs.
    for (let attempt = 0; attempt < 2; attempt++) {
      const fresh = await load();
      if (fresh.active) return fresh.active;
      // Keys, but none under a configured KEK: name the one it needs (kekFor throws), never make a key beside them.
      if (fresh.newest) kekFor(fresh.newest.kekId, keks, fresh.newest.id);
      const made = await addKey(true);
      if (made) return made;
    }
    throw new UpkeepError("KEY_NOT_FOUND", "could not read the first data key another process made");
  };

  const keyFor = async (envelope: Envelope): Promise<StoredKey> => {
    let key = (await current()).keys.get(envelope.keyId);
    if (!key) key = (await load()).keys.get(envelope.keyId);
    if (!key) throw new UpkeepError("KEY_NOT_FOUND", `cannot decrypt: data key ${envelope.keyId} is not in the keyring`);
    return key;
  };

  const decryptBytes = async (ciphertext: string, call: CryptoCallOptions = {}): Promise<Buffer> => {
    const envelope = parseEnvelope(ciphertext);
    const key = await keyFor(envelope);
    return openEnvelope(await dataKey(key), envelope, call.aad);
  };

  return {
    // Read when asked: an envKek() whose variable is unset throws here, naming it.
    get kekId() {
      return options.kek.id;
    },
    async encrypt(plaintext, call = {}) {
      const key = await activeForEncrypt();
      return sealEnvelope(await dataKey(key), key.id, plaintext, call.aad);
    },
    decryptBytes,
    async decrypt(ciphertext, call) {
      return (await decryptBytes(ciphertext, call)).toString("utf8");
    },
    keyIdOf,
    async keys() {
      return [...(await load()).keys.values()].map(keyInfo);
    },
    async activeKey() {
      const active = (await load()).active;
      return active && keyInfo(active);
    },
    async verifyKek() {
      const newest = (await load()).newest;
      if (newest) await unwrapOrRefuse(newest, "the keyring's active data key");
      return newest && keyInfo(newest);
    },
    async rotate(rotateOptions = {}) {
      return keyInfo((await addKey(false, rotateOptions.within)) as StoredKey);
    },
    async retire(id, retireOptions = {}) {
      const state = await load();
      if (state.active?.id === id) return false;
      const key = state.keys.get(id);
      const done = await options.db.transaction(async (trx) => {
        if (!(await keyringTable(trx, prefix).retire(id, clock()))) return false;
        if (key) await retireOptions.within?.(trx, { ...keyInfo(key), status: "retired" });
        return true;
      });
      await load();
      return done;
    },
    async reload() {
      await load();
    },
  };
}

import { createHmac } from "node:crypto";
import * as z from "zod";
import { ConfigError, UpkeepError } from "../errors.ts";
import { fromBase64Url, gcmOpen, gcmSeal } from "./gcm.ts";

/** What a KEK provider is told about the data key it wraps or unwraps. */
export interface KekContext {
  /** The data key's id; bind it to the wrapped bytes (as associated data or a KMS encryption context). */
  keyId: string;
}

/**
 * A key-encryption key: wraps and unwraps data-encryption keys. Data keys are stored only wrapped,
 * so the keyring table alone decrypts nothing. A provider for a cloud KMS calls its Encrypt and
 * Decrypt (see docs/tasks/key-rotation.md).
 */
export interface KekProvider {
  /**
   * Names this KEK (and its version); stored beside every data key it wraps so the right one
   * unwraps it after a KEK rotation. Not secret, at most 255 characters.
   */
  readonly id: string;
  /** Returns the wrapped key as text (any encoding the provider likes). */
  wrap(dataKey: Uint8Array, context: KekContext): Promise<string>;
  /** Returns the data key. Throws when the text was not wrapped by this KEK for this key id. */
  unwrap(wrapped: string, context: KekContext): Promise<Uint8Array>;
}

/** Marks the provider `envKek()` returns when its variable is unset; the value is the variable's name. */
const MISSING_KEK = Symbol.for("@upkeep/core.missing-kek");

/**
 * Whether a value is a KEK provider: a string `id`, `wrap` and `unwrap`. The provider of an
 * `envKek()` whose variable is unset counts too, without reading its `id` (which throws).
 */
export function isKekProvider(value: unknown): value is KekProvider {
  if (typeof value !== "object" || value === null) return false;
  const kek = value as KekProvider;
  if (typeof kek.wrap !== "function" || typeof kek.unwrap !== "function") return false;
  return MISSING_KEK in kek || typeof kek.id === "string";
}

/** Accepts a KEK provider: a string `id`, `wrap` and `unwrap` (the configuration's and the key-rotation task's). */
export const kekSchema = z.custom<KekProvider>(isKekProvider, "expected a KEK provider such as envKek()");

const KEY_BYTES = 32;

/**
 * Decodes a 32-byte key given as 64 hex characters or base64/base64url (44 characters with
 * padding, 43 without). Returns why not, never echoing the value.
 */
export function decodeKey(text: string): { key: Buffer } | { problem: string } {
  const trimmed = text.trim();
  if (trimmed.length === 0) return { problem: "is empty" };
  if (/^[0-9a-fA-F]+$/.test(trimmed) && trimmed.length === KEY_BYTES * 2) return { key: Buffer.from(trimmed, "hex") };
  const base64 = trimmed.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const bytes = fromBase64Url(base64);
  if (!bytes) return { problem: `expected ${KEY_BYTES} bytes as 64 hex characters or base64; the text is neither` };
  if (bytes.length !== KEY_BYTES) {
    return { problem: `expected ${KEY_BYTES} bytes as 64 hex characters or base64; it decodes to ${bytes.length} bytes` };
  }
  return { key: bytes };
}

/** A short, non-reversible check value of a key, so a KEK can be named without revealing it. */
function checkValue(key: Uint8Array): string {
  return createHmac("sha256", key).update("upkeep kek id").digest("hex").slice(0, 12);
}

/** Options of `localKek`: a key-encryption key held by the host. */
export interface LocalKekOptions {
  /**
   * This KEK's id, stored with every data key it wraps.
   * @default "local:" followed by a 12-hex-digit check value derived from the key
   */
  id?: string;
  /** What to call the key in error messages, such as the environment variable it came from. @default "kek" */
  name?: string;
}

/**
 * A KEK held in process memory: AES-256-GCM key wrapping, with the data key's id as associated
 * data. `key` is 32 bytes, or their hex or base64 text.
 *
 * @throws {ConfigError} when the key is not 32 bytes, naming the field and never the value.
 */
export function localKek(key: string | Uint8Array, options: LocalKekOptions = {}): KekProvider {
  const name = options.name ?? "kek";
  let bytes: Buffer;
  if (typeof key === "string") {
    const decoded = decodeKey(key);
    if ("problem" in decoded) throw new ConfigError("invalid key-encryption key", [{ path: name, message: decoded.problem }]);
    bytes = decoded.key;
  } else if (key instanceof Uint8Array && key.length === KEY_BYTES) {
    bytes = Buffer.from(key);
  } else {
    throw new ConfigError("invalid key-encryption key", [{ path: name, message: `expected ${KEY_BYTES} bytes` }]);
  }
  const id = options.id ?? `local:${checkValue(bytes)}`;
  const aad = (context: KekContext) => Buffer.from(`upkeep dek ${context.keyId}`, "utf8");
  return {
    id,
    async wrap(dataKey, context) {
      return `v1.${gcmSeal(bytes, dataKey, aad(context)).toString("base64url")}`;
    },
    async unwrap(wrapped, context) {
      const sealed = wrapped.startsWith("v1.") ? fromBase64Url(wrapped.slice(3)) : undefined;
      const dataKey = sealed && gcmOpen(bytes, sealed, aad(context));
      if (!dataKey) throw new UpkeepError("KEK_FAILED", `KEK ${id} could not unwrap data key ${context.keyId} (wrong KEK or altered row)`);
      return dataKey;
    },
  };
}

/**
 * The local KEK read from an environment variable: 32 bytes as 64 hex characters or base64
 * (`openssl rand -base64 32`). Read once, when called.
 *
 * An unset (or empty) variable fails where the KEK is first needed, not here, so a configuration
 * that names it still loads where nothing is encrypted (`upkeep list`, `status`, `migrate`,
 * `keys status`, a run of a task that needs no KEK): reading the provider's `id`, `wrap` and
 * `unwrap` throw the ConfigError naming the variable, and so do `start()` with a key-rotation task,
 * a rotation, `encrypt` and `decrypt`.
 *
 * @throws {ConfigError} naming the variable when it is set but not 32 bytes; never its value.
 */
export function envKek(variable = "UPKEEP_KEK", options: Omit<LocalKekOptions, "name"> & { env?: NodeJS.ProcessEnv } = {}): KekProvider {
  const value = (options.env ?? process.env)[variable];
  if (value === undefined || value === "") return missingKek(variable);
  return localKek(value, { id: options.id, name: variable });
}

/** The stand-in for an unset KEK variable: every use throws the ConfigError naming it. */
function missingKek(variable: string): KekProvider {
  const missing = () =>
    new ConfigError("invalid key-encryption key", [{ path: variable, message: "is not set (expected 32 bytes as hex or base64)" }]);
  return {
    [MISSING_KEK]: variable,
    get id(): string {
      throw missing();
    },
    wrap: () => Promise.reject(missing()),
    unwrap: () => Promise.reject(missing()),
  } as KekProvider;
}

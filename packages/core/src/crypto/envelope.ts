import { UpkeepError } from "../errors.ts";
import { fromBase64Url, GCM_OVERHEAD, gcmOpen, gcmSeal, toBytes } from "./gcm.ts";

/**
 * The envelope format: `upk1:<key id>:<base64url(iv | ciphertext | tag)>`. `upk1` names the
 * version (AES-256-GCM, 96-bit IV, 128-bit tag); the header is authenticated with the caller's
 * associated data, so neither the version nor the key id can be swapped.
 */
export const ENVELOPE_VERSION = "upk1";

/** Key ids are lower-case hex, so they are safe inside a SQL LIKE pattern and a text column. */
export const KEY_ID = /^[a-f0-9]{8,32}$/;

/** The text every ciphertext under `keyId` starts with. */
export function envelopePrefix(keyId: string): string {
  return `${ENVELOPE_VERSION}:${keyId}:`;
}

/** The key id a ciphertext names, or undefined when it is not an upkeep envelope of a known version. */
export function keyIdOf(ciphertext: unknown): string | undefined {
  if (typeof ciphertext !== "string") return undefined;
  const [version, keyId, body, extra] = ciphertext.split(":");
  if (version !== ENVELOPE_VERSION || keyId === undefined || body === undefined || extra !== undefined) return undefined;
  return KEY_ID.test(keyId) ? keyId : undefined;
}

/** A parsed envelope: its key id, the authenticated header and the sealed bytes. */
export interface Envelope {
  keyId: string;
  header: string;
  sealed: Buffer;
}

const fail = (message: string) => new UpkeepError("DECRYPT_FAILED", `cannot decrypt: ${message}`);

/**
 * Parses an envelope without decrypting it.
 *
 * @throws {UpkeepError} `DECRYPT_FAILED` for text that is not an envelope, names an unknown version or is truncated.
 */
export function parseEnvelope(ciphertext: unknown): Envelope {
  if (typeof ciphertext !== "string") throw fail("expected a string");
  const parts = ciphertext.split(":");
  if (parts.length !== 3) throw fail("not an upkeep ciphertext");
  const [version, keyId, body] = parts as [string, string, string];
  if (version !== ENVELOPE_VERSION) {
    throw fail(/^upk\d+$/.test(version) ? "unknown ciphertext version" : "not an upkeep ciphertext");
  }
  if (!KEY_ID.test(keyId)) throw fail("malformed key id");
  const sealed = fromBase64Url(body);
  if (!sealed) throw fail("malformed ciphertext encoding");
  if (sealed.length < GCM_OVERHEAD) throw fail("ciphertext is truncated");
  return { keyId, header: envelopePrefix(keyId), sealed };
}

function associated(header: string, aad: string | Uint8Array | undefined): Buffer {
  return Buffer.concat([Buffer.from(header, "ascii"), aad === undefined ? Buffer.alloc(0) : toBytes(aad)]);
}

/** Encrypts under a data key; the caller has checked `keyId`. */
export function sealEnvelope(key: Uint8Array, keyId: string, plaintext: string | Uint8Array, aad?: string | Uint8Array): string {
  const header = envelopePrefix(keyId);
  return `${header}${gcmSeal(key, toBytes(plaintext), associated(header, aad)).toString("base64url")}`;
}

/**
 * Decrypts a parsed envelope with its data key.
 *
 * @throws {UpkeepError} `DECRYPT_FAILED` when the ciphertext was altered, the associated data differs or the key is wrong.
 */
export function openEnvelope(key: Uint8Array, envelope: Envelope, aad?: string | Uint8Array): Buffer {
  const plaintext = gcmOpen(key, envelope.sealed, associated(envelope.header, aad));
  if (!plaintext) throw fail("authentication failed (altered ciphertext, wrong associated data or wrong key)");
  return plaintext;
}

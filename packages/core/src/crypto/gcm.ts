import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Bytes of a sealed blob besides the plaintext: IV and authentication tag. */
export const GCM_OVERHEAD = IV_BYTES + TAG_BYTES;

/** AES-256-GCM with a fresh random 96-bit IV; returns `iv | ciphertext | tag`. */
export function gcmSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** Opens a blob from `gcmSeal`; returns undefined when it is too short or does not authenticate. */
export function gcmOpen(key: Uint8Array, blob: Uint8Array, aad: Uint8Array): Buffer | undefined {
  if (blob.length < GCM_OVERHEAD) return undefined;
  const iv = blob.subarray(0, IV_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Strict base64url decoding: undefined for any character outside the alphabet (Buffer.from skips them silently). */
export function fromBase64Url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, "base64url");
}

/** UTF-8 bytes of a string, or the bytes as given. */
export function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

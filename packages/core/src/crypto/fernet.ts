import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ConfigError, UpkeepError } from "../errors.ts";
import { toBytes } from "./gcm.ts";
import { pythonUrlsafeB64decode, urlsafeB64encode } from "./python-base64.ts";

// The Fernet spec (github.com/fernet/spec): base64url( 0x80 | timestamp u64 BE seconds | IV 16 |
// AES-128-CBC PKCS#7 ciphertext | HMAC-SHA256 of everything before ). The key is 32 bytes in
// url-safe base64: signing key first, encryption key second.
const VERSION = 0x80;
const HEADER = 1 + 8 + 16;
const MAC = 32;
/** As in Python's `cryptography`: a token may be at most this far in the future when a TTL is checked. */
export const FERNET_MAX_CLOCK_SKEW_SECONDS = 60;

/** Options of a Fernet decrypt. */
export interface FernetDecryptOptions {
  /** Reject tokens older than this many seconds (and tokens from more than 60 s in the future). Unchecked when absent. */
  ttl?: number;
  /** The current time. @default new Date() */
  now?: Date;
}

/** A Fernet codec for one key. */
export interface Fernet {
  /** Encrypts; the token carries the current time (or `at`). */
  encrypt(plaintext: string | Uint8Array, at?: Date): string;
  /** @throws {UpkeepError} `DECRYPT_FAILED` for a token this key did not sign, an altered or expired one. */
  decrypt(token: string, options?: FernetDecryptOptions): Buffer;
  /** Whether this key signed the token (HMAC check only, no decryption). */
  verifies(token: string): boolean;
  /** The time the token was made; checks the signature first. */
  timestamp(token: string): Date;
  /** Encrypts with a given timestamp (seconds); what MultiFernet rotation uses. */
  encryptAt(plaintext: Uint8Array, seconds: bigint): string;
}

const invalid = (why: string) => new UpkeepError("DECRYPT_FAILED", `cannot decrypt Fernet token: ${why}`);

/**
 * Decodes a Fernet key: 32 bytes of padded base64, read as Python's `cryptography` reads it
 * (either alphabet, whitespace and other non-alphabet characters ignored); undefined when Python
 * would refuse it.
 */
export function decodeFernetKey(key: string): Buffer | undefined {
  const bytes = typeof key === "string" ? pythonUrlsafeB64decode(key) : undefined;
  return bytes?.length === 32 ? bytes : undefined;
}

/** A new random Fernet key, in the text form Python's `Fernet.generate_key()` gives. */
export function generateFernetKey(): string {
  return urlsafeB64encode(randomBytes(32));
}

/** A token's bytes, decoded as Python's `cryptography` decodes it (see python-base64.ts). */
function decodeToken(token: string): Buffer | undefined {
  const bytes = typeof token === "string" ? pythonUrlsafeB64decode(token) : undefined;
  if (!bytes || bytes.length < HEADER + 16 + MAC || (bytes.length - HEADER - MAC) % 16 !== 0 || bytes[0] !== VERSION) return undefined;
  return bytes;
}

/**
 * A spec-compatible Fernet codec (interoperable with Python's `cryptography.fernet.Fernet`). It
 * reads keys and tokens in every form Python's `cryptography` accepts (either base64 alphabet,
 * surrounding or embedded whitespace) and writes only canonical padded url-safe tokens.
 *
 * @throws {ConfigError} when the key is not base64 of 32 bytes; the value is never shown.
 */
export function fernet(key: string): Fernet {
  const bytes = decodeFernetKey(key);
  if (!bytes)
    throw new ConfigError("invalid Fernet key", [
      { path: "key", message: "expected url-safe base64 of 32 bytes, padded (as Fernet.generate_key() writes it)" },
    ]);
  const signing = bytes.subarray(0, 16);
  const encryption = bytes.subarray(16);
  const mac = (data: Buffer) => createHmac("sha256", signing).update(data).digest();
  const signed = (token: string): Buffer | undefined => {
    const data = decodeToken(token);
    if (!data) return undefined;
    const body = data.subarray(0, data.length - MAC);
    return timingSafeEqual(mac(body), data.subarray(data.length - MAC)) ? data : undefined;
  };
  const encryptAt = (plaintext: Uint8Array, seconds: bigint): string => {
    const iv = randomBytes(16);
    const cipher = createCipheriv("aes-128-cbc", encryption, iv);
    const header = Buffer.alloc(9);
    header[0] = VERSION;
    header.writeBigUInt64BE(seconds, 1);
    const body = Buffer.concat([header, iv, cipher.update(plaintext), cipher.final()]);
    return urlsafeB64encode(Buffer.concat([body, mac(body)]));
  };
  return {
    encryptAt,
    encrypt(plaintext, at = new Date()) {
      return encryptAt(toBytes(plaintext), BigInt(Math.floor(at.getTime() / 1000)));
    },
    verifies: (token) => signed(token) !== undefined,
    timestamp(token) {
      const data = signed(token);
      if (!data) throw invalid("not signed by this key, or altered");
      return new Date(Number(data.readBigUInt64BE(1)) * 1000);
    },
    decrypt(token, options = {}) {
      const raw = decodeToken(token);
      if (!raw) throw invalid("malformed token");
      const seconds = Number(raw.readBigUInt64BE(1));
      if (options.ttl !== undefined) {
        const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
        if (seconds + options.ttl < now) throw invalid("token expired");
        if (now + FERNET_MAX_CLOCK_SKEW_SECONDS < seconds) throw invalid("token is from the future");
      }
      const data = signed(token);
      if (!data) throw invalid("not signed by this key, or altered");
      const decipher = createDecipheriv("aes-128-cbc", encryption, data.subarray(9, HEADER));
      try {
        return Buffer.concat([decipher.update(data.subarray(HEADER, data.length - MAC)), decipher.final()]);
      } catch {
        throw invalid("bad padding");
      }
    },
  };
}

/** Several Fernet keys: encrypt with the first, decrypt with any, rotate to the first. */
export interface MultiFernet {
  /** The keys, primary first. */
  readonly keys: readonly Fernet[];
  /** Encrypts under the first key; `at` is the token's timestamp (default now). */
  encrypt(plaintext: string | Uint8Array, at?: Date): string;
  /** Decrypts a token signed by any of the keys; throws when none verifies it (or its TTL passed). */
  decrypt(token: string, options?: FernetDecryptOptions): Buffer;
  /** Index of the key that signed the token, or -1 when none did. */
  keyIndexOf(token: string): number;
  /**
   * Re-encrypts a token under the first key, keeping its original timestamp (like Python's
   * `MultiFernet.rotate`: no TTL check).
   */
  rotate(token: string): string;
}

/**
 * MultiFernet semantics, as in Python's `cryptography`: the first key is primary.
 *
 * @throws {ConfigError} for an empty list or an invalid key, naming its index.
 */
export function multiFernet(keys: readonly string[]): MultiFernet {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new ConfigError("invalid Fernet keys", [{ path: "keys", message: "expected at least one key" }]);
  }
  const codecs = keys.map((key, index) => {
    if (!decodeFernetKey(key)) {
      throw new ConfigError("invalid Fernet keys", [
        { path: `keys.${index}`, message: "expected url-safe base64 of 32 bytes, padded (as Fernet.generate_key() writes it)" },
      ]);
    }
    return fernet(key);
  });
  const primary = codecs[0] as Fernet;
  const keyIndexOf = (token: string) => codecs.findIndex((codec) => codec.verifies(token));
  return {
    keys: codecs,
    encrypt: (plaintext, at) => primary.encrypt(plaintext, at),
    keyIndexOf,
    decrypt(token, options) {
      const index = keyIndexOf(token);
      if (index < 0) {
        if (!decodeToken(token)) throw invalid("malformed token");
        throw invalid("no key signed it, or it was altered");
      }
      return (codecs[index] as Fernet).decrypt(token, options);
    },
    rotate(token) {
      const index = keyIndexOf(token);
      if (index < 0) throw invalid("no key signed it, or it was altered");
      const codec = codecs[index] as Fernet;
      const plaintext = codec.decrypt(token);
      const raw = decodeToken(token) as Buffer; // a key verified it, so it decodes
      return primary.encryptAt(plaintext, raw.readBigUInt64BE(1));
    },
  };
}

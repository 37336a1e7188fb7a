import { describe, expect, it } from "vitest";
import { fernet, generateFernetKey, multiFernet } from "./fernet.ts";

// The spec's test vector (github.com/fernet/spec generate.json / verify.json).
const SPEC = {
  token: "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==",
  made: new Date("1985-10-26T01:20:00-07:00"),
  secret: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
  src: "hello",
};

describe("Fernet codec", () => {
  it("decrypts the spec's test vector and reads its timestamp", () => {
    const codec = fernet(SPEC.secret);
    expect(codec.decrypt(SPEC.token, { ttl: 60, now: new Date(SPEC.made.getTime() + 1000) }).toString()).toBe(SPEC.src);
    expect(codec.timestamp(SPEC.token).toISOString()).toBe(SPEC.made.toISOString());
    // verify.json's "expired TTL" case: checked one minute and a second later.
    expect(() => codec.decrypt(SPEC.token, { ttl: 60, now: new Date(SPEC.made.getTime() + 61_000) })).toThrow(/expired/);
  });

  it("round-trips and emits padded url-safe base64 starting with the version byte", () => {
    const codec = fernet(generateFernetKey());
    const token = codec.encrypt("JBSWY3DPEHPK3PXP");
    expect(token.startsWith("gAAAAA")).toBe(true);
    expect(token.length % 4).toBe(0);
    expect(codec.decrypt(token).toString()).toBe("JBSWY3DPEHPK3PXP");
  });

  it("rejects an expired token and one from beyond the clock skew, only when a TTL is given", () => {
    const codec = fernet(generateFernetKey());
    const at = new Date("2026-01-01T00:00:00Z");
    const token = codec.encrypt("otp", at);
    expect(() => codec.decrypt(token, { ttl: 60, now: new Date(at.getTime() + 61_000) })).toThrow(/expired/);
    expect(codec.decrypt(token, { ttl: 60, now: new Date(at.getTime() + 60_000) }).toString()).toBe("otp");
    expect(() => codec.decrypt(token, { ttl: 60, now: new Date(at.getTime() - 61_000) })).toThrow(/future/);
    expect(codec.decrypt(token, { ttl: 60, now: new Date(at.getTime() - 59_000) }).toString()).toBe("otp");
    expect(codec.decrypt(token, { now: new Date(at.getTime() + 10 * 365 * 86_400_000) }).toString()).toBe("otp");
  });

  it("rejects a flipped bit, a truncated token, another key's token and a wrong version byte", () => {
    const key = generateFernetKey();
    const codec = fernet(key);
    const token = codec.encrypt("secret");
    const bytes = Buffer.from(token, "base64url");
    const flipped = Buffer.from(bytes);
    flipped[30] = (flipped[30] as number) ^ 1;
    const version = Buffer.from(bytes);
    version[0] = 0x81;
    const encode = (b: Buffer) => b.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
    expect(() => codec.decrypt(encode(flipped))).toThrow(/altered/);
    expect(() => codec.decrypt(token.slice(0, 40))).toThrow(/malformed/);
    expect(() => codec.decrypt(encode(version))).toThrow(/malformed/);
    expect(() => fernet(generateFernetKey()).decrypt(token)).toThrow(/not signed/);
  });

  it("rejects a key that is not 32 bytes of url-safe base64 without echoing it", () => {
    expect(() => fernet("short")).toThrow(/url-safe base64 of 32 bytes/);
    try {
      multiFernet([generateFernetKey(), "bad-key-value"]);
    } catch (error) {
      expect((error as Error).message).toMatch(/keys\.1/);
      expect((error as Error).message).not.toContain("bad-key-value");
    }
  });
});

describe("Fernet input as Python's cryptography accepts it (issue 18)", () => {
  const key = generateFernetKey();
  const standardKey = (text: string) => text.replace(/-/g, "+").replace(/_/g, "/");
  // Keys and tokens with both "-" and "_" (or "+" and "/") in them, so each form changes the text.
  const keyWith = (): string => {
    for (;;) {
      const candidate = generateFernetKey();
      if (/[-_]/.test(candidate)) return candidate;
    }
  };
  const tokenWith = (codec: ReturnType<typeof fernet>): string => {
    for (;;) {
      const candidate = codec.encrypt("JBSWY3DPEHPK3PXP");
      if (/-/.test(candidate) && /_/.test(candidate)) return candidate;
    }
  };

  it("reads a token with surrounding whitespace, a trailing newline, line breaks or the standard alphabet", () => {
    const codec = fernet(key);
    const token = tokenWith(codec);
    const forms = [
      ` ${token} `,
      `${token}\n`,
      `\t${token}\r\n`,
      `${token.slice(0, 40)}\n${token.slice(40)}`,
      standardKey(token),
      `${standardKey(token)}\n`,
    ];
    for (const form of forms) {
      expect(codec.decrypt(form).toString()).toBe("JBSWY3DPEHPK3PXP");
      expect(codec.verifies(form)).toBe(true);
      expect(multiFernet([generateFernetKey(), key]).keyIndexOf(form)).toBe(1);
    }
    const rotated = multiFernet([generateFernetKey(), key]).rotate(`${standardKey(token)}\n`);
    expect(rotated).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
    expect(rotated.length % 4).toBe(0);
  });

  it("reads a key in the standard alphabet or with whitespace around it, as the same key", () => {
    const original = keyWith();
    const token = fernet(original).encrypt("same key");
    for (const form of [standardKey(original), ` ${original}\n`, `${standardKey(original)}\r\n`]) {
      expect(fernet(form).decrypt(token).toString()).toBe("same key");
      expect(multiFernet([form]).decrypt(token).toString()).toBe("same key");
    }
  });

  it("refuses what Python refuses: missing padding, non-ASCII text, a key of another length", () => {
    const codec = fernet(key);
    const token = codec.encrypt("x");
    const unpadded = token.replace(/=+$/, "");
    if (unpadded !== token) expect(() => codec.decrypt(unpadded)).toThrow(/malformed/);
    expect(() => codec.decrypt(`${token}é`)).toThrow(/malformed/);
    expect(() => fernet(key.replace(/=$/, ""))).toThrow(/32 bytes, padded/);
    expect(() => fernet(`${key.slice(0, 36)}AAA=`)).toThrow(/32 bytes/);
  });
});

describe("MultiFernet", () => {
  it("encrypts with the first key and decrypts tokens of any key", () => {
    const [newKey, oldKey] = [generateFernetKey(), generateFernetKey()];
    const old = fernet(oldKey).encrypt("from the old key");
    const multi = multiFernet([newKey, oldKey]);
    expect(multi.decrypt(old).toString()).toBe("from the old key");
    expect(multi.keyIndexOf(old)).toBe(1);
    expect(fernet(newKey).decrypt(multi.encrypt("new")).toString()).toBe("new");
  });

  it("rotates a token to the first key and keeps its original timestamp, even past any TTL", () => {
    const [newKey, oldKey] = [generateFernetKey(), generateFernetKey()];
    const at = new Date("2020-02-02T02:02:02Z");
    const old = fernet(oldKey).encrypt("totp seed", at);
    const rotated = multiFernet([newKey, oldKey]).rotate(old);
    expect(multiFernet([newKey]).keyIndexOf(rotated)).toBe(0);
    expect(fernet(newKey).timestamp(rotated).toISOString()).toBe(at.toISOString());
    expect(fernet(newKey).decrypt(rotated).toString()).toBe("totp seed");
    expect(() => multiFernet([newKey]).rotate(old)).toThrow(/no key signed/);
  });
});

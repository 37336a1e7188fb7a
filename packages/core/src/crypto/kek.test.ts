import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, UpkeepError } from "../errors.ts";
import { envKek, isKekProvider, kekSchema, localKek } from "./kek.ts";

const material = randomBytes(32);

describe("local KEK provider", () => {
  it("accepts 32 bytes as hex, base64, base64url and raw bytes, all with the same id", () => {
    const ids = [
      localKek(material.toString("hex")),
      localKek(material.toString("base64")),
      localKek(material.toString("base64url")),
      localKek(material),
    ].map((kek) => kek.id);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^local:[0-9a-f]{12}$/);
    expect(ids[0]).not.toContain(material.toString("hex").slice(0, 12));
  });

  it("wraps and unwraps a data key bound to its key id", async () => {
    const kek = localKek(material);
    const dek = randomBytes(32);
    const wrapped = await kek.wrap(dek, { keyId: "aaaaaaaaaaaaaaaa" });
    expect(Buffer.from(await kek.unwrap(wrapped, { keyId: "aaaaaaaaaaaaaaaa" })).equals(dek)).toBe(true);
    await expect(kek.unwrap(wrapped, { keyId: "bbbbbbbbbbbbbbbb" })).rejects.toMatchObject({ code: "KEK_FAILED" });
    await expect(localKek(randomBytes(32)).unwrap(wrapped, { keyId: "aaaaaaaaaaaaaaaa" })).rejects.toBeInstanceOf(UpkeepError);
  });

  it("rejects a key of the wrong length or encoding naming the variable, never the value", () => {
    const short = randomBytes(16).toString("base64");
    const cases: Array<[string, RegExp]> = [
      [short, /decodes to 16 bytes/],
      [randomBytes(31).toString("hex"), /decodes to|neither/],
      ["not a key at all!", /neither/],
    ];
    for (const [value, pattern] of cases) {
      let error: unknown;
      try {
        envKek("APP_KEK", { env: { APP_KEK: value } });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toMatch(/APP_KEK/);
      expect(message).toMatch(pattern);
      expect(message).not.toContain(value);
    }
  });

  it("an unset variable fails where the KEK is used, naming the variable, so a config naming it still loads", async () => {
    const kek = envKek("MISSING_KEK", { env: {} });
    expect(isKekProvider(kek)).toBe(true);
    expect(kekSchema.safeParse(kek).success).toBe(true);
    expect(() => kek.id).toThrow(ConfigError);
    expect(() => kek.id).toThrow(/MISSING_KEK: is not set/);
    await expect(kek.wrap(material, { keyId: "k1" })).rejects.toThrow(/MISSING_KEK: is not set/);
    await expect(kek.unwrap("v1.x", { keyId: "k1" })).rejects.toThrow(/MISSING_KEK: is not set/);
  });
});

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UpkeepError } from "../errors.ts";
import { ENVELOPE_VERSION, keyIdOf, openEnvelope, parseEnvelope, sealEnvelope } from "./envelope.ts";

const key = randomBytes(32);
const keyId = "0123456789abcdef";
const open = (text: string, aad?: string) => openEnvelope(key, parseEnvelope(text), aad).toString("utf8");

function flipBit(text: string, byte: number): string {
  const [version, id, body] = text.split(":") as [string, string, string];
  const bytes = Buffer.from(body, "base64url");
  bytes[byte] = (bytes[byte] as number) ^ 0x01;
  return `${version}:${id}:${bytes.toString("base64url")}`;
}

function failure(work: () => unknown): UpkeepError {
  try {
    work();
  } catch (error) {
    if (error instanceof UpkeepError) return error;
    throw error;
  }
  throw new Error("expected an UpkeepError");
}

describe("envelope (AES-256-GCM)", () => {
  it("round-trips text with and without associated data, including the empty string", () => {
    expect(open(sealEnvelope(key, keyId, "s3cr3t ✓", "users/api_key/1"), "users/api_key/1")).toBe("s3cr3t ✓");
    expect(open(sealEnvelope(key, keyId, ""))).toBe("");
    expect(open(sealEnvelope(key, keyId, "no aad"))).toBe("no aad");
  });

  it("names its version and key id in the text, and uses a fresh IV each time", () => {
    const a = sealEnvelope(key, keyId, "same");
    const b = sealEnvelope(key, keyId, "same");
    expect(a.startsWith(`${ENVELOPE_VERSION}:${keyId}:`)).toBe(true);
    expect(keyIdOf(a)).toBe(keyId);
    expect(a).not.toBe(b);
    expect(keyIdOf("plain text")).toBeUndefined();
  });

  it("rejects a flipped bit in the IV, the ciphertext and the tag", () => {
    const text = sealEnvelope(key, keyId, "a secret worth protecting");
    const length = Buffer.from(text.split(":")[2] as string, "base64url").length;
    for (const byte of [0, 14, length - 1]) {
      expect(failure(() => open(flipBit(text, byte))).code).toBe("DECRYPT_FAILED");
    }
  });

  it("rejects the wrong associated data, so a ciphertext copied to another row fails", () => {
    const text = sealEnvelope(key, keyId, "row one's secret", "users/api_key/1");
    expect(failure(() => open(text, "users/api_key/2")).message).toMatch(/authentication failed/);
    expect(failure(() => open(text)).code).toBe("DECRYPT_FAILED");
  });

  it("rejects a swapped key id even when the key behind it is the same", () => {
    const text = sealEnvelope(key, keyId, "bound to its key id");
    expect(() => open(text.replace(keyId, "fedcba9876543210"))).toThrow(/authentication failed/);
  });

  it("rejects truncated text, an unknown version and foreign text with distinct messages", () => {
    const text = sealEnvelope(key, keyId, "truncate me");
    expect(failure(() => open(text.slice(0, text.length - 30))).message).toMatch(/truncated|authentication/);
    expect(failure(() => open(`${keyId.slice(0, 0)}upk1:${keyId}:AAAA`)).message).toMatch(/truncated/);
    expect(failure(() => open(text.replace(/^upk1/, "upk9"))).message).toMatch(/unknown ciphertext version/);
    expect(failure(() => open("hello world")).message).toMatch(/not an upkeep ciphertext/);
    expect(failure(() => open(`${text.slice(0, -2)}!!`)).message).toMatch(/encoding/);
  });

  it("never puts the plaintext, the key or the ciphertext in an error message", () => {
    const text = sealEnvelope(key, keyId, "PLAINTEXT-MARKER", "aad");
    const messages = [
      failure(() => open(text, "other")).message,
      failure(() => open(flipBit(text, 3), "aad")).message,
      failure(() => open(text.replace(/^upk1/, "upk2"))).message,
    ];
    for (const message of messages) {
      expect(message).not.toContain("PLAINTEXT-MARKER");
      expect(message).not.toContain(text.split(":")[2]);
      expect(message).not.toContain(key.toString("hex"));
      expect(message).not.toContain(key.toString("base64"));
    }
  });
});

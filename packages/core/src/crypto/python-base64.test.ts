import { describe, expect, it } from "vitest";
import { pythonUrlsafeB64decode, urlsafeB64encode } from "./python-base64.ts";

// Expected values from CPython 3.11's `base64.urlsafe_b64decode(str)` (hex of the bytes, or
// undefined where it raises binascii.Error or ValueError); test/crypto/fernet-python.test.ts
// checks the same cases against the python3 on the machine.
const CASES: Array<[string, string | undefined]> = [
  ["", ""],
  ["AA==", "00"],
  ["AAA=", "0000"],
  ["AAAA", "000000"],
  [" AA==\n", "00"],
  ["AA\n==", "00"],
  ["A A = =", "00"],
  ["QUJD\r\n", "414243"],
  ["+/8=", "fbff"],
  ["-_8=", "fbff"],
  ["+_8=", "fbff"],
  ["AA==!", "00"],
  ["AA.==", "00"],
  ["AA==...==", "00"],
  ["=AA==", "00"],
  ["AA=AA", "000000"],
  ["AAAA=", "000000"],
  ["AAAA==", "000000"],
  ["AB==", "00"],
  ["AA=\n=", "00"],
  ["\n", ""],
  ["AA=", undefined],
  ["AA", undefined],
  ["AAA", undefined],
  ["A", undefined],
  ["A===", undefined],
  ["AAAAA", undefined],
  ["é", undefined],
  ["AA== é", undefined],
];

// Decoded differently by CPython 3.11–3.12 (stop at the closing "=") and 3.13+ (read on): refused.
const SPLIT = ["AA==AA==", "AAA=A", "aGk=aGk="];

describe("pythonUrlsafeB64decode", () => {
  it.each(CASES)("decodes %j as CPython does", (text, hex) => {
    expect(pythonUrlsafeB64decode(text)?.toString("hex")).toBe(hex);
  });

  it.each(SPLIT)("refuses %j, which CPython versions decode differently", (text) => {
    expect(pythonUrlsafeB64decode(text)).toBeUndefined();
  });

  it("round-trips every length, and writes padded url-safe text only", () => {
    for (let length = 0; length < 70; length++) {
      const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 151 + 251) & 0xff));
      const text = urlsafeB64encode(bytes);
      expect(text).toMatch(/^[A-Za-z0-9_-]*={0,2}$/);
      expect(text.length % 4).toBe(0);
      expect(pythonUrlsafeB64decode(text)).toEqual(bytes);
    }
  });
});

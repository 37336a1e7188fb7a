import { spawnSync } from "node:child_process";
import { fernet, generateFernetKey, multiFernet } from "@upkeep/core";
import { isCI } from "@upkeep/testkit";
import { describe, expect, it } from "vitest";

// Interoperability with Python's `cryptography` package, the Fernet most Python services use.
const probe = spawnSync("python3", ["-c", "import cryptography.fernet"], { encoding: "utf8" });
const available = probe.status === 0;
if (!available) {
  const line = "[upkeep test] python3 with the `cryptography` package is missing; the Fernet interop suite is SKIPPED";
  if (isCI()) throw new Error(line.replace("SKIPPED", "required under CI"));
  console.warn(`\n!!! ${line} !!!\n`);
}

const SCRIPT = `
import json, sys
from cryptography.fernet import Fernet, MultiFernet, InvalidToken
job = json.load(sys.stdin)
out = {}
for name, step in job.items():
    op = step["op"]
    try:
        if op == "encrypt_at":
            out[name] = Fernet(step["key"]).encrypt_at_time(step["plaintext"].encode(), step["at"]).decode()
        elif op == "decrypt_at":
            f = MultiFernet([Fernet(k) for k in step["keys"]])
            out[name] = f.decrypt_at_time(step["token"].encode(), step["ttl"], step["now"]).decode()
        elif op == "decrypt":
            out[name] = MultiFernet([Fernet(k) for k in step["keys"]]).decrypt(step["token"].encode()).decode()
        elif op == "timestamp":
            out[name] = Fernet(step["key"]).extract_timestamp(step["token"].encode())
        elif op == "rotate":
            out[name] = MultiFernet([Fernet(k) for k in step["keys"]]).rotate(step["token"].encode()).decode()
    except InvalidToken:
        out[name] = "InvalidToken"
print(json.dumps(out))
`;

function python(job: Record<string, Record<string, unknown>>): Record<string, string | number> {
  const result = spawnSync("python3", ["-c", SCRIPT], { input: JSON.stringify(job), encoding: "utf8" });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

const at = 1_767_225_600; // 2026-01-01T00:00:00Z, in seconds

describe.skipIf(!available)("Fernet interop with Python's cryptography", () => {
  it("decrypts what Python encrypts, with Python's timestamp", () => {
    const key = generateFernetKey();
    const out = python({ token: { op: "encrypt_at", key, plaintext: "JBSWY3DPEHPK3PXP", at } });
    const token = String(out.token);
    expect(
      fernet(key)
        .decrypt(token, { ttl: 30, now: new Date((at + 10) * 1000) })
        .toString(),
    ).toBe("JBSWY3DPEHPK3PXP");
    expect(fernet(key).timestamp(token).getTime()).toBe(at * 1000);
    expect(() => fernet(key).decrypt(token, { ttl: 30, now: new Date((at + 31) * 1000) })).toThrow(/expired/);
  });

  it("produces tokens Python decrypts, and Python applies the same TTL and clock-skew rules", () => {
    const key = generateFernetKey();
    const token = fernet(key).encrypt("made in node", new Date(at * 1000));
    const out = python({
      plain: { op: "decrypt", keys: [key], token },
      fresh: { op: "decrypt_at", keys: [key], token, ttl: 60, now: at + 60 },
      expired: { op: "decrypt_at", keys: [key], token, ttl: 60, now: at + 61 },
      future: { op: "decrypt_at", keys: [key], token, ttl: 60, now: at - 61 },
      stamp: { op: "timestamp", key, token },
    });
    expect(out).toEqual({ plain: "made in node", fresh: "made in node", expired: "InvalidToken", future: "InvalidToken", stamp: at });
  });

  it("a token we rotate keeps its timestamp for Python, and one Python rotates keeps it for us", () => {
    const [oldKey, newKey] = [generateFernetKey(), generateFernetKey()];
    const made = python({ token: { op: "encrypt_at", key: oldKey, plaintext: "seed-from-python", at } });
    const rotatedHere = multiFernet([newKey, oldKey]).rotate(String(made.token));
    const ours = fernet(oldKey).encrypt("seed-from-node", new Date(at * 1000));
    const out = python({
      readNew: { op: "decrypt", keys: [newKey], token: rotatedHere },
      stamp: { op: "timestamp", key: newKey, token: rotatedHere },
      rotatedThere: { op: "rotate", keys: [newKey, oldKey], token: ours },
    });
    expect(out.readNew).toBe("seed-from-python");
    expect(out.stamp).toBe(at);
    const rotatedThere = String(out.rotatedThere);
    expect(multiFernet([newKey]).decrypt(rotatedThere).toString()).toBe("seed-from-node");
    expect(fernet(newKey).timestamp(rotatedThere).getTime()).toBe(at * 1000);
  });
});

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { APP_MANIFEST } from "./fixtures/registry.ts";
import { findLockfiles, readLockfile } from "./lockfile.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** A folder holding one fixture under its real name, beside the app's package.json. */
function project(fixture: string, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), "upkeep-lockfile-"));
  writeFileSync(join(dir, name), readFileSync(join(FIXTURES, fixture), "utf8"));
  writeFileSync(join(dir, "package.json"), JSON.stringify(APP_MANIFEST));
  return join(dir, name);
}

const CASES = [
  ["package-lock.v3.json", "package-lock.json", "npm-v3"],
  ["package-lock.v2.json", "package-lock.json", "npm-v2"],
  ["pnpm-lock.v9.yaml", "pnpm-lock.yaml", "pnpm-v9.0"],
  ["pnpm-lock.v6.yaml", "pnpm-lock.yaml", "pnpm-v6.0"],
  ["yarn.v1.lock", "yarn.lock", "yarn-v1"],
  ["yarn.berry.lock", "yarn.lock", "yarn-berry"],
] as const;

describe("lockfile readers", () => {
  for (const [fixture, name, format] of CASES) {
    it(`${fixture}: every locked package, dev-only flags and the paths that pull each in`, async () => {
      const lock = await readLockfile(project(fixture, name), 5);
      expect(lock.format).toBe(format);
      const summary = Object.fromEntries(lock.packages.map((pkg) => [`${pkg.name}@${pkg.version}`, { dev: pkg.dev, paths: pkg.paths }]));
      expect(summary).toEqual({
        "@fixture/glob@1.2.0": { dev: true, paths: [["app", "test-runner@1.0.0", "@fixture/glob@1.2.0"]] },
        "debug-lite@2.6.0": {
          dev: false,
          paths: [
            ["app", "express-lite@4.0.0", "debug-lite@2.6.0"],
            ["app", "test-runner@1.0.0", "debug-lite@2.6.0"],
          ],
        },
        "express-lite@4.0.0": { dev: false, paths: [["app", "express-lite@4.0.0"]] },
        "qs-lite@6.0.0": { dev: false, paths: [["app", "express-lite@4.0.0", "qs-lite@6.0.0"]] },
        "test-runner@1.0.0": { dev: true, paths: [["app", "test-runner@1.0.0"]] },
      });
      const qs = lock.packages.find((pkg) => pkg.name === "qs-lite");
      if (format === "yarn-berry") expect(qs?.integrity).toEqual([]);
      else expect(qs?.integrity).toEqual([expect.stringMatching(/^sha512-/)]);
    });
  }

  it("names the path of a missing lockfile, of an unknown version and of a folder without one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "upkeep-lockfile-"));
    await expect(readLockfile(join(dir, "package-lock.json"), 5)).rejects.toThrow(
      `lockfile ${join(dir, "package-lock.json")}: does not exist`,
    );
    writeFileSync(join(dir, "package-lock.json"), JSON.stringify({ lockfileVersion: 1, dependencies: {} }));
    await expect(readLockfile(join(dir, "package-lock.json"), 5)).rejects.toThrow(/package-lock\.json: unsupported lockfileVersion 1/);
    writeFileSync(join(dir, "pnpm-lock.yaml"), "lockfileVersion: 5.4\n");
    await expect(readLockfile(join(dir, "pnpm-lock.yaml"), 5)).rejects.toThrow(/pnpm-lock\.yaml: unsupported lockfileVersion "5\.4"/);
    writeFileSync(join(dir, "yarn.lock"), "not a lockfile at all\n");
    await expect(readLockfile(join(dir, "yarn.lock"), 5)).rejects.toThrow(/yarn\.lock: /);
    const empty = mkdtempSync(join(tmpdir(), "upkeep-lockfile-"));
    await expect(findLockfiles(empty)).rejects.toThrow(`no lockfile in ${empty}`);
    expect(await findLockfiles(dir)).toEqual([join(dir, "package-lock.json"), join(dir, "pnpm-lock.yaml"), join(dir, "yarn.lock")]);
  });
});

import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import parse from "@changesets/parse";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL("../.changeset/", import.meta.url));
const files = readdirSync(dir).filter((name) => name.endsWith(".md") && name !== "README.md");
const packages = new Set(
  readdirSync(fileURLToPath(new URL("../packages/", import.meta.url)), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `@upkeep/${entry.name}`),
);

describe("changesets", () => {
  it.each(files)("%s parses and names only published packages and never a major while on 0.x", (name) => {
    const changeset = parse(readFileSync(`${dir}${name}`, "utf8"));
    expect(changeset.releases.length).toBeGreaterThan(0);
    for (const release of changeset.releases) {
      expect(packages.has(release.name)).toBe(true);
      expect(["patch", "minor"]).toContain(release.type);
    }
    expect(changeset.summary.length).toBeGreaterThan(20);
  });
});

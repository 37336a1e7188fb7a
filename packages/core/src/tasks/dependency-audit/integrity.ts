const STRENGTH = ["sha512", "sha384", "sha256", "sha1"] as const;

/** The hashes of SRI strings (`sha512-… sha1-…`), by algorithm, base64. */
function hashes(sri: string[]): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const text of sri) {
    for (const token of text.trim().split(/\s+/)) {
      const dash = token.indexOf("-");
      if (dash <= 0) continue;
      const algorithm = token.slice(0, dash).toLowerCase();
      const digest = token.slice(dash + 1).split("?")[0] as string;
      let set = found.get(algorithm);
      if (!set) {
        set = new Set();
        found.set(algorithm, set);
      }
      set.add(digest);
    }
  }
  return found;
}

/**
 * Compares a lockfile's integrity values with what the registry publishes for the version
 * (`dist.integrity`, and `dist.shasum` as sha1): on the strongest algorithm both have, every locked
 * hash must equal the published one. `unchecked` when they share no algorithm or the lockfile has
 * none.
 */
export function compareIntegrity(
  locked: string[],
  published: { integrity: string | null; shasum: string | null },
): "ok" | "mismatch" | "unchecked" {
  const ours = hashes(locked);
  const theirs = hashes(published.integrity ? [published.integrity] : []);
  if (published.shasum && /^[0-9a-f]{40}$/i.test(published.shasum)) {
    theirs.set("sha1", new Set([...(theirs.get("sha1") ?? []), Buffer.from(published.shasum, "hex").toString("base64")]));
  }
  for (const algorithm of STRENGTH) {
    const mine = ours.get(algorithm);
    const registry = theirs.get(algorithm);
    if (!mine || !registry) continue;
    return [...mine].every((digest) => registry.has(digest)) ? "ok" : "mismatch";
  }
  return "unchecked";
}

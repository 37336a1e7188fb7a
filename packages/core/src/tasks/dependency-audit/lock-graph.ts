import semver from "semver";

/** One installed instance a lockfile records. */
export interface LockNode {
  name: string;
  version: string;
  /** The lockfile's `integrity` (an SRI string, possibly several hashes), when it has one. */
  integrity?: string;
  /** Where the lockfile says the tarball comes from, when it says. */
  resolved?: string;
  /** Whether it comes from a registry (not git, a file, a link or a workspace). */
  registry: boolean;
}

/** A project (workspace) in the lockfile and the instances it depends on directly. */
export interface LockImporter {
  name: string;
  prod: string[];
  dev: string[];
}

/** What a lockfile reader produces: instances by id, who depends on whom, and the projects. */
export interface LockGraph {
  nodes: Map<string, LockNode>;
  edges: Map<string, string[]>;
  importers: LockImporter[];
}

/** One locked registry package (a name and version), however many instances of it are installed. */
export interface LockedPackage {
  /** The package's name, with its scope (`@scope/name`). */
  name: string;
  /** The locked version, exact. */
  version: string;
  /** Distinct `integrity` values of its instances. */
  integrity: string[];
  /** Distinct `resolved` URLs of its instances. */
  resolved: string[];
  /** True when no production dependency reaches it: only devDependencies do. */
  dev: boolean;
  /**
   * Who pulls it in: up to `maxPaths` shortest chains, each from the project to the package, as
   * `name@version` steps (the project by its name). Empty when no project reaches it.
   */
  paths: string[][];
}

/** The packages of a lockfile, with its format. */
export interface Lockfile {
  /** The lockfile's path, as configured or found. */
  path: string;
  /** The format it was read as: `npm-v<n>`, `pnpm-v<n>`, `yarn-v1` or `yarn-berry`. */
  format: string;
  /** Its registry packages, one per name and version. */
  packages: LockedPackage[];
  /** Instances skipped because they do not come from a registry (git, file, link, workspace). */
  skipped: number;
}

const ROOT = "\u0000root:";

/**
 * Turns a lock graph into its registry packages, marking each dev-only when no production
 * dependency of any project reaches it, and listing up to `maxPaths` shortest paths to it. One
 * breadth-first walk from every project: each instance keeps the first `maxPaths` parents it is
 * reached from, and a path is a parent's own shortest path plus the instance. Linear in the edges.
 */
export function lockedPackages(graph: LockGraph, maxPaths: number): { packages: LockedPackage[]; skipped: number } {
  const prod = new Set<string>();
  const parents = new Map<string, string[]>();
  const first = new Map<string, string>();
  const queue: string[] = [];
  const visit = (id: string, from: string) => {
    if (!graph.nodes.has(id)) return;
    let list = parents.get(id);
    if (!list) {
      list = [];
      parents.set(id, list);
      first.set(id, from);
      queue.push(id);
    }
    if (list.length < maxPaths && !list.includes(from)) list.push(from);
  };
  const walk = (starts: Array<[string, string]>, mark: boolean) => {
    for (const [id, from] of starts) visit(id, from);
    while (queue.length > 0) {
      const id = queue.shift() as string;
      if (mark) prod.add(id);
      for (const next of graph.edges.get(id) ?? []) visit(next, id);
    }
  };
  walk(
    graph.importers.flatMap((importer) => importer.prod.map((id): [string, string] => [id, ROOT + importer.name])),
    true,
  );
  walk(
    graph.importers.flatMap((importer) => importer.dev.map((id): [string, string] => [id, ROOT + importer.name])),
    false,
  );

  const label = (id: string) => {
    const node = graph.nodes.get(id) as LockNode;
    return `${node.name}@${node.version}`;
  };
  const shortest = (id: string): string[] => {
    const steps: string[] = [];
    const seen = new Set<string>();
    let at: string | undefined = id;
    while (at !== undefined && !at.startsWith(ROOT) && !seen.has(at)) {
      seen.add(at);
      steps.push(label(at));
      at = first.get(at);
    }
    if (at?.startsWith(ROOT)) steps.push(at.slice(ROOT.length));
    return steps.reverse();
  };

  const byKey = new Map<string, LockedPackage>();
  let skipped = 0;
  for (const [id, node] of graph.nodes) {
    if (!node.registry || !semver.valid(node.version)) {
      skipped++;
      continue;
    }
    const key = `${node.name}@${node.version}`;
    let entry = byKey.get(key);
    if (!entry) {
      entry = { name: node.name, version: node.version, integrity: [], resolved: [], dev: true, paths: [] };
      byKey.set(key, entry);
    }
    if (node.integrity && !entry.integrity.includes(node.integrity)) entry.integrity.push(node.integrity);
    if (node.resolved && !entry.resolved.includes(node.resolved)) entry.resolved.push(node.resolved);
    const reached = parents.has(id);
    if (prod.has(id) || !reached) entry.dev = false;
    for (const parent of parents.get(id) ?? []) {
      if (entry.paths.length >= maxPaths) break;
      const path = [...(parent.startsWith(ROOT) ? [parent.slice(ROOT.length)] : shortest(parent)), key];
      if (!entry.paths.some((known) => known.join(">") === path.join(">"))) entry.paths.push(path);
    }
  }
  const packages = [...byKey.values()].sort((a, b) => a.name.localeCompare(b.name) || semver.compare(a.version, b.version));
  for (const pkg of packages) pkg.paths.sort((a, b) => a.length - b.length || a.join(">").localeCompare(b.join(">")));
  return { packages, skipped };
}

/** Splits `name@spec` at the `@` that ends the name (a scope's leading `@` is part of it). */
export function splitSpec(spec: string): { name: string; rest: string } | undefined {
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0);
  if (at <= 0) return undefined;
  return { name: spec.slice(0, at), rest: spec.slice(at + 1) };
}

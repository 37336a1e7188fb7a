import type { LockGraph, LockImporter, LockNode } from "./lock-graph.ts";

interface NpmEntry {
  name?: string;
  version?: string;
  integrity?: string;
  resolved?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const NODE_MODULES = "node_modules/";

/** The package name a `packages` key installs: what follows its last `node_modules/`. */
function nameOf(location: string): string {
  return location.slice(location.lastIndexOf(NODE_MODULES) + NODE_MODULES.length);
}

/** Where `dep` required from `location` is installed: node's walk up the `node_modules` folders. */
function resolveFrom(packages: Record<string, NpmEntry>, location: string, dep: string): string | undefined {
  let at = location;
  for (;;) {
    const candidate = at === "" ? `${NODE_MODULES}${dep}` : `${at}/${NODE_MODULES}${dep}`;
    if (packages[candidate]) return candidate;
    if (at === "") return undefined;
    const cut = at.lastIndexOf(`/${NODE_MODULES}`);
    at = cut >= 0 ? at.slice(0, cut) : "";
  }
}

const REGISTRY_TARBALL = /^https?:\/\//i;

/**
 * Reads `package-lock.json` / `npm-shrinkwrap.json` v2 and v3 from its `packages` map (v1's
 * `dependencies` tree is refused by the caller). Every `node_modules/…` key is an instance; keys
 * without `node_modules/` are the root and the workspaces (the projects); links point at them.
 */
export function readNpmLock(lock: { packages?: Record<string, NpmEntry> }): LockGraph {
  const packages = lock.packages ?? {};
  const nodes = new Map<string, LockNode>();
  const edges = new Map<string, string[]>();
  const importers: LockImporter[] = [];
  const depsOf = (location: string, entry: NpmEntry, fields: Array<keyof NpmEntry>) => {
    const found: string[] = [];
    for (const field of fields) {
      for (const dep of Object.keys((entry[field] as Record<string, string> | undefined) ?? {})) {
        const target = resolveFrom(packages, location, dep);
        if (target) found.push(target);
      }
    }
    return found;
  };
  for (const [location, entry] of Object.entries(packages)) {
    if (!location.includes(NODE_MODULES) || location.startsWith("../")) {
      importers.push({
        name: entry.name ?? (location === "" ? "(root)" : location),
        prod: depsOf(location, entry, ["dependencies", "optionalDependencies", "peerDependencies"]),
        dev: depsOf(location, entry, ["devDependencies"]),
      });
      continue;
    }
    if (entry.link) {
      nodes.set(location, { name: nameOf(location), version: "link", registry: false });
      continue;
    }
    const resolved = entry.resolved;
    nodes.set(location, {
      name: entry.name ?? nameOf(location),
      version: entry.version ?? "",
      integrity: entry.integrity,
      resolved,
      registry: resolved === undefined || REGISTRY_TARBALL.test(resolved),
    });
    edges.set(location, depsOf(location, entry, ["dependencies", "optionalDependencies", "peerDependencies"]));
  }
  return { nodes, edges, importers };
}

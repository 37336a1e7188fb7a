import { type LockGraph, type LockImporter, type LockNode, splitSpec } from "./lock-graph.ts";

interface YarnEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  resolution?: string;
  checksum?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** The dependency fields of a package.json the readers look at. */
export interface Manifest {
  name?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const HTTP = /^https?:\/\//i;

/** Every descriptor of an entry: its key lists them separated by `, `. */
const descriptors = (key: string) => key.split(/,\s*/).map((part) => part.trim().replace(/^"|"$/g, ""));

function index(lock: Record<string, unknown>): Map<string, { id: string; entry: YarnEntry }> {
  const byDescriptor = new Map<string, { id: string; entry: YarnEntry }>();
  for (const [key, value] of Object.entries(lock)) {
    if (key === "__metadata" || typeof value !== "object" || value === null) continue;
    const entry = value as YarnEntry;
    const id = entry.resolution ?? `${splitSpec(descriptors(key)[0] as string)?.name}@${entry.version}`;
    for (const descriptor of descriptors(key)) byDescriptor.set(descriptor, { id, entry });
  }
  return byDescriptor;
}

/**
 * Reads `yarn.lock`, classic (v1) or Berry (`__metadata`), parsed by `@yarnpkg/parsers`. Entries
 * are keyed by the descriptors (`name@range`; Berry: `name@npm:range`) that resolve to them. Which
 * direct dependencies are dev-only comes from the projects' package.json (`manifest(path)`): the
 * root's for classic, each workspace's (`name@workspace:path`) for Berry.
 */
export function readYarnLock(lock: Record<string, unknown>, manifest: (workspacePath: string) => Manifest | undefined): LockGraph {
  const berry = "__metadata" in lock;
  const byDescriptor = index(lock);
  const nodes = new Map<string, LockNode>();
  const edges = new Map<string, string[]>();
  const importers: LockImporter[] = [];
  const target = (name: string, range: string) => byDescriptor.get(`${name}@${range}`)?.id;
  const classify = (name: string, fallback: string[], project: Manifest | undefined, resolve: (dep: string) => string | undefined) => {
    const pick = (deps: Record<string, string> | undefined) =>
      Object.keys(deps ?? {}).flatMap((dep) => {
        const id = resolve(dep);
        return id ? [id] : [];
      });
    if (!project) return { name, prod: fallback, dev: [] };
    return {
      name: project.name ?? name,
      prod: [...pick(project.dependencies), ...pick(project.optionalDependencies), ...pick(project.peerDependencies)],
      dev: pick(project.devDependencies),
    };
  };
  for (const { id, entry } of byDescriptor.values()) {
    if (nodes.has(id)) continue;
    const deps = { ...entry.dependencies, ...entry.optionalDependencies };
    const targets = Object.entries(deps).flatMap(([name, range]) => {
      const found = target(name, range);
      return found ? [found] : [];
    });
    edges.set(id, targets);
    const spec = splitSpec(id);
    if (berry && spec?.rest.startsWith("workspace:")) {
      const path = spec.rest.slice("workspace:".length);
      importers.push(classify(spec.name, targets, manifest(path), (dep) => (deps[dep] ? target(dep, deps[dep]) : undefined)));
      continue;
    }
    const registry = berry ? (spec?.rest.startsWith("npm:") ?? false) : entry.resolved !== undefined && HTTP.test(entry.resolved);
    nodes.set(id, {
      name: spec?.name ?? id,
      version: entry.version ?? "",
      // Berry's `checksum` hashes yarn's own zip of the package, not the registry's tarball.
      integrity: berry ? undefined : entry.integrity,
      resolved: berry ? undefined : entry.resolved,
      registry,
    });
  }
  if (!berry) {
    const root = manifest(".");
    importers.push(
      classify("(root)", [], root, (dep) => {
        const range =
          root?.dependencies?.[dep] ?? root?.optionalDependencies?.[dep] ?? root?.peerDependencies?.[dep] ?? root?.devDependencies?.[dep];
        return range === undefined ? undefined : target(dep, range);
      }),
    );
  }
  return { nodes, edges, importers };
}

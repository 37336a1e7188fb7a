import { type LockGraph, type LockImporter, type LockNode, splitSpec } from "./lock-graph.ts";

type DepMap = Record<string, string | { version?: string }>;

interface PnpmImporter {
  dependencies?: DepMap;
  optionalDependencies?: DepMap;
  devDependencies?: DepMap;
}

interface PnpmPackage {
  name?: string;
  version?: string;
  resolution?: { integrity?: string; tarball?: string; type?: string; directory?: string };
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** The pnpm lockfile versions read: pnpm 8 (6.0), pnpm 9 pre-releases (7.0) and pnpm 9 and 10 (9.0). */
export const PNPM_LOCK_VERSIONS = ["6.0", "6.1", "7.0", "9.0"];

export interface PnpmLock extends PnpmImporter {
  lockfileVersion?: string | number;
  importers?: Record<string, PnpmImporter>;
  packages?: Record<string, PnpmPackage>;
  snapshots?: Record<string, PnpmPackage>;
}

/** `name@1.2.3(peer@1.0.0)` without its peer suffix. */
const withoutPeers = (key: string) => {
  const open = key.indexOf("(");
  return open < 0 ? key : key.slice(0, open);
};

/**
 * Reads `pnpm-lock.yaml` 6.0 to 9.0 (parsed by `yaml`). Instances are the `snapshots` (9.0) or
 * `packages` (6.x) keys, `/name@version(peers)` in 6.x and `name@version(peers)` in 9.0; a
 * dependency's version is the key's tail, or an alias' whole key, or `link:` to another project.
 */
export function readPnpmLock(lock: PnpmLock): LockGraph {
  const v6 = String(lock.lockfileVersion).startsWith("6");
  const keyOf = (name: string, version: string) => {
    if (version.startsWith("link:")) return undefined;
    // An alias (`npm:` in the manifest) locks the real package's whole key as the version.
    if (v6 ? version.startsWith("/") : !/^\d/.test(version)) return version;
    return v6 ? `/${name}@${version}` : `${name}@${version}`;
  };
  const resolutions = lock.packages ?? {};
  const instances = v6 ? resolutions : (lock.snapshots ?? {});
  const nodes = new Map<string, LockNode>();
  const edges = new Map<string, string[]>();
  for (const [key, entry] of Object.entries(instances)) {
    const bare = withoutPeers(v6 ? key.replace(/^\//, "") : key);
    const spec = splitSpec(bare);
    const resolution = (v6 ? entry : resolutions[bare])?.resolution ?? {};
    const meta = v6 ? entry : resolutions[bare];
    const registry = resolution.integrity !== undefined && resolution.type === undefined && !resolution.tarball?.startsWith("file:");
    nodes.set(key, {
      name: meta?.name ?? spec?.name ?? bare,
      version: meta?.version ?? spec?.rest ?? "",
      integrity: resolution.integrity,
      resolved: resolution.tarball,
      registry,
    });
    const targets: string[] = [];
    for (const deps of [entry.dependencies, entry.optionalDependencies]) {
      for (const [name, version] of Object.entries(deps ?? {})) {
        const target = keyOf(name, String(version));
        if (target && instances[target]) targets.push(target);
      }
    }
    edges.set(key, targets);
  }
  const projects: Record<string, PnpmImporter> = lock.importers ?? { ".": lock };
  const importers: LockImporter[] = Object.entries(projects).map(([path, project]) => {
    const ids = (deps: DepMap | undefined) =>
      Object.entries(deps ?? {}).flatMap(([name, value]) => {
        const version = typeof value === "string" ? value : value.version;
        const target = version === undefined ? undefined : keyOf(name, version);
        return target && instances[target] ? [target] : [];
      });
    return {
      name: path === "." ? "(root)" : path,
      prod: [...ids(project.dependencies), ...ids(project.optionalDependencies)],
      dev: ids(project.devDependencies),
    };
  });
  return { nodes, edges, importers };
}

import { existsSync, readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import semver from "semver";
import type { Adapter } from "./adapter.ts";
import type { ConfigIssue } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** A package an adapter loaded, as it found it at run time (see `adapterDependency`). */
export interface AdapterDependency {
  /** The npm name, such as `bullmq`. */
  readonly name: string;
  /** The version of the copy the adapter loaded. */
  readonly version: string;
  /** The real path of that copy's folder. */
  readonly location: string;
  /** The adapter's peer range for it; a version outside is a `ConfigError` at `registerTasks`. */
  readonly range: string | undefined;
  /** The adapter package that loads it, such as `@upkeep/bullmq`. */
  readonly requiredBy: string;
}

interface PackageJson {
  name?: string;
  version?: string;
  peerDependencies?: Record<string, string>;
}

function readPackage(path: string): PackageJson {
  return JSON.parse(readFileSync(path, "utf8")) as PackageJson;
}

/** The nearest package.json at or above `dir`. */
function ownPackage(dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, "package.json");
    if (existsSync(candidate)) return candidate;
    if (dirname(at) === at) return undefined;
  }
}

/**
 * Finds the copy of `name` that the module at `from` (an adapter's `import.meta.url`) resolves,
 * with the adapter package's peer range for it. Undefined when it cannot tell (a bundled app with
 * no package.json to read): the checks are then skipped, never failed.
 */
export function adapterDependency(name: string, from: string): AdapterDependency | undefined {
  try {
    const manifest = createRequire(from).resolve(`${name}/package.json`);
    const adapterManifest = ownPackage(dirname(fileURLToPath(from)));
    const adapter = adapterManifest ? readPackage(adapterManifest) : {};
    const version = readPackage(manifest).version;
    if (typeof version !== "string") return undefined;
    return {
      name,
      version,
      location: realpathSync(dirname(manifest)),
      range: adapter.peerDependencies?.[name],
      requiredBy: adapter.name ?? "the adapter",
    };
  } catch {
    return undefined;
  }
}

/** The packages core itself loads, which an adapter must not load a second copy of. */
const coreOwn = (): AdapterDependency[] => {
  const croner = adapterDependency("croner", import.meta.url);
  return croner ? [{ ...croner, requiredBy: "@upkeep/core" }] : [];
};

/**
 * Checks what the adapter loaded: a version outside the adapter's peer range is an issue (the
 * adapter is built and tested on that range only); a second copy of a package core also loads
 * (croner) is a warning, since the two may read a schedule differently around DST.
 */
export function checkAdapterDependencies(adapter: Adapter, logger: Logger): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const found = adapter.dependencies ?? [];
  for (const dependency of found) {
    if (dependency.range && !semver.satisfies(dependency.version, dependency.range, { includePrerelease: true })) {
      issues.push({
        path: "adapter",
        message:
          `${dependency.requiredBy} supports ${dependency.name} ${dependency.range}, but ${dependency.name} ${dependency.version} ` +
          `is installed (${dependency.location}): install a ${dependency.name} in that range`,
      });
    }
  }
  const own = coreOwn();
  for (const dependency of found) {
    const core = own.find((mine) => mine.name === dependency.name);
    if (!core || core.location === dependency.location) continue;
    logger.warn(
      {
        package: dependency.name,
        copies: [
          { requiredBy: core.requiredBy, version: core.version, location: core.location },
          { requiredBy: dependency.requiredBy, version: dependency.version, location: dependency.location },
        ],
      },
      `[upkeep] two copies of ${dependency.name} are loaded: ${core.requiredBy} uses ${core.version} and ${dependency.requiredBy} ` +
        `uses ${dependency.version}; ticks are computed with the first and fired by the second. Install one copy ` +
        `(pnpm dedupe / npm dedupe, or the version @upkeep/core depends on)`,
    );
  }
  return issues;
}

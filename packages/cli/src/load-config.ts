import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ConfigError, type UpkeepConfig } from "@upkeep/core";
import { createJiti } from "jiti";

/** The file names `upkeep` looks for, in this order, in each directory from the current one upward. */
export const CONFIG_FILES: readonly string[] = ["upkeep.config.ts", "upkeep.config.mts", "upkeep.config.js", "upkeep.config.mjs"];

/** A loaded configuration and the file it came from. */
export interface LoadedConfig {
  /** The config file's absolute path. */
  path: string;
  /** The configuration the file exports by default. */
  config: UpkeepConfig;
}

/** Options of `loadConfig`: where to look for the config file. */
export interface LoadConfigOptions {
  /** Where the upward search starts, and what a relative `path` is resolved against. */
  cwd: string;
  /** An explicit config file (`--config`); no search happens. */
  path?: string;
}

/** The first config file in `from` or any parent directory, or undefined. */
export function findConfig(from: string): string | undefined {
  let dir = resolve(from);
  for (;;) {
    for (const name of CONFIG_FILES) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function isUpkeepConfig(value: unknown): value is UpkeepConfig {
  return typeof value === "object" && value !== null && Array.isArray((value as { tasks?: unknown }).tasks);
}

/**
 * Finds and loads the configuration (TypeScript through jiti). Its default export must be an
 * upkeep config, as `defineConfig` returns.
 *
 * @throws {ConfigError} when no file is found, it cannot be loaded, or it exports no config.
 */
export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  let path: string;
  if (options.path !== undefined) {
    path = isAbsolute(options.path) ? options.path : resolve(options.cwd, options.path);
    if (!existsSync(path)) throw new ConfigError(`--config ${options.path}: no such file; pass the path of your upkeep.config.ts`);
  } else {
    const found = findConfig(options.cwd);
    if (!found) {
      throw new ConfigError(
        `no ${CONFIG_FILES.join(", ")} found in ${options.cwd} or any parent directory: ` +
          "create one that default-exports defineConfig({ tasks: [...] }), or pass --config <path>",
      );
    }
    path = found;
  }

  let module: { default?: unknown };
  try {
    // tryNative: import the file natively when the runtime can (a TypeScript loader, type
    // stripping), so the config and the CLI share one @upkeep/core and `instanceof TaskError`
    // holds; otherwise jiti transpiles it.
    const jiti = createJiti(import.meta.url, { tryNative: true, interopDefault: false });
    module = await jiti.import<{ default?: unknown }>(path);
  } catch (error) {
    if (error instanceof Error && (error as { code?: unknown }).code === "CONFIG_INVALID") throw error;
    throw new ConfigError(`${path} could not be loaded; fix the error below`, [], { cause: error });
  }
  const config = module?.default;
  if (config === undefined) {
    throw new ConfigError(`${path} has no default export: end it with \`export default defineConfig({ tasks: [...] })\``);
  }
  if (!isUpkeepConfig(config)) {
    throw new ConfigError(`${path}: the default export is not an upkeep config`, [
      { path: "tasks", message: "expected an array of tasks; export default defineConfig({ tasks: [...] })" },
    ]);
  }
  return { path, config };
}

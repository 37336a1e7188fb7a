import { readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { parseSyml } from "@yarnpkg/parsers";
import { parse as parseYaml } from "yaml";
import { TaskError } from "../../errors.ts";
import { type Lockfile, type LockGraph, lockedPackages } from "./lock-graph.ts";
import { readNpmLock } from "./lockfile-npm.ts";
import { PNPM_LOCK_VERSIONS, type PnpmLock, readPnpmLock } from "./lockfile-pnpm.ts";
import { type Manifest, readYarnLock } from "./lockfile-yarn.ts";

/** The lockfile names looked for in the app root, in this order. */
export const LOCKFILE_NAMES = ["package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock"] as const;

/** A lockfile that cannot be read: the message names its path and what is wrong, never its content. */
function lockError(path: string, problem: string, cause?: unknown): TaskError {
  return new TaskError(`dependency-audit: lockfile ${path}: ${problem}`, { reason: "AUDIT_LOCKFILE_INVALID", cause });
}

/** The lockfiles in `root`, by `LOCKFILE_NAMES`; none is an error naming the folder. */
export async function findLockfiles(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of LOCKFILE_NAMES) {
    const path = join(root, name);
    if (
      await stat(path).then(
        (info) => info.isFile(),
        () => false,
      )
    )
      found.push(path);
  }
  if (found.length === 0) {
    throw new TaskError(`dependency-audit: no lockfile in ${root} (looked for ${LOCKFILE_NAMES.join(", ")})`, {
      reason: "AUDIT_LOCKFILE_INVALID",
    });
  }
  return found;
}

async function readManifest(path: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

function parseJsonLock(path: string, text: string): { graph: LockGraph; format: string } {
  let lock: { lockfileVersion?: unknown; packages?: unknown };
  try {
    lock = JSON.parse(text);
  } catch (error) {
    throw lockError(path, "is not valid JSON", error);
  }
  const version = lock?.lockfileVersion;
  if (version !== 2 && version !== 3) {
    throw lockError(
      path,
      `unsupported lockfileVersion ${JSON.stringify(version ?? null)} (supported: 2 and 3, written by npm 7 and later)`,
    );
  }
  if (typeof lock.packages !== "object" || lock.packages === null) throw lockError(path, 'has no "packages" map');
  return { graph: readNpmLock(lock as Parameters<typeof readNpmLock>[0]), format: `npm-v${version}` };
}

function parsePnpmLock(path: string, text: string): { graph: LockGraph; format: string } {
  let lock: PnpmLock;
  try {
    lock = parseYaml(text, { maxAliasCount: 100 }) as PnpmLock;
  } catch (error) {
    throw lockError(path, "is not valid YAML", error);
  }
  const version = String(lock?.lockfileVersion ?? "");
  if (!PNPM_LOCK_VERSIONS.includes(version)) {
    throw lockError(
      path,
      `unsupported lockfileVersion ${JSON.stringify(version || null)} (supported: ${PNPM_LOCK_VERSIONS.join(", ")}, written by pnpm 8 and later)`,
    );
  }
  return { graph: readPnpmLock(lock), format: `pnpm-v${version}` };
}

async function parseYarnLock(path: string, text: string): Promise<{ graph: LockGraph; format: string }> {
  let lock: Record<string, unknown>;
  try {
    lock = parseSyml(text) as Record<string, unknown>;
  } catch (error) {
    throw lockError(path, "is not a valid yarn lockfile", error);
  }
  const berry = lock.__metadata as { version?: unknown } | undefined;
  if (!berry && !/^# yarn lockfile v1$/m.test(text))
    throw lockError(path, 'is neither a yarn v1 lockfile ("# yarn lockfile v1") nor a Berry one (__metadata)');
  if (berry && !(Number(berry.version) >= 4)) {
    throw lockError(
      path,
      `unsupported __metadata.version ${JSON.stringify(berry.version ?? null)} (supported: 4 and later, written by yarn 2 and later)`,
    );
  }
  const dir = dirname(path);
  const manifests = new Map<string, Manifest | undefined>();
  for (const key of Object.keys(lock)) {
    const workspace = /@workspace:([^,"]*)/.exec(key)?.[1];
    if (workspace !== undefined) manifests.set(workspace, await readManifest(join(dir, workspace, "package.json")));
  }
  if (!berry) manifests.set(".", await readManifest(join(dir, "package.json")));
  return { graph: readYarnLock(lock, (workspace) => manifests.get(workspace)), format: berry ? "yarn-berry" : "yarn-v1" };
}

/** Largest lockfile read, in bytes. */
export const MAX_LOCKFILE_BYTES = 256 * 1024 * 1024;

/**
 * Reads one lockfile into its registry packages, with dev flags and up to `maxPaths` paths each.
 * The format comes from the file name (`package-lock.json`, `npm-shrinkwrap.json`,
 * `pnpm-lock.yaml`, `yarn.lock`) or, for another name, from its content.
 *
 * @throws {TaskError} reason `AUDIT_LOCKFILE_INVALID`, naming the path: missing, unreadable, too
 * large, unparsable or of an unsupported version.
 */
export async function readLockfile(path: string, maxPaths: number): Promise<Lockfile> {
  const absolute = resolve(path);
  let text: string;
  try {
    const info = await stat(absolute);
    if (!info.isFile()) throw lockError(path, "is not a file");
    if (info.size > MAX_LOCKFILE_BYTES) throw lockError(path, `is larger than ${MAX_LOCKFILE_BYTES} bytes`);
    text = await readFile(absolute, "utf8");
  } catch (error) {
    if (error instanceof TaskError) throw error;
    const code = (error as { code?: string })?.code;
    throw lockError(path, code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? "error"})`, error);
  }
  const name = basename(absolute);
  const trimmed = text.trimStart();
  const { graph, format } =
    name.endsWith(".json") || (!name.endsWith(".lock") && trimmed.startsWith("{"))
      ? parseJsonLock(path, text)
      : name.endsWith(".yaml") || name.endsWith(".yml") || trimmed.startsWith("lockfileVersion")
        ? parsePnpmLock(path, text)
        : await parseYarnLock(path, text);
  const root = graph.importers.find((importer) => importer.name === "(root)");
  if (root) root.name = (await readManifest(join(dirname(absolute), "package.json")))?.name ?? "(root)";
  const { packages, skipped } = lockedPackages(graph, maxPaths);
  return { path, format, packages, skipped };
}

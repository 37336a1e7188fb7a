import { isAbsolute, resolve } from "node:path";
import type { UpkeepConfig } from "@upkeep/core";

/** What `resolveSqlitePath` changed: the configured filename and the absolute one now used. */
export interface ResolvedSqlitePath {
  from: string;
  to: string;
}

interface SqliteClient {
  dialect?: unknown;
  connectionConfigProvider?: unknown;
  connectionSettings?: { filename?: unknown };
}

/** Filenames SQLite does not read as a path relative to the working directory. */
function isPathLike(filename: string): boolean {
  return filename !== "" && filename !== ":memory:" && !filename.startsWith("file:") && !isAbsolute(filename);
}

/**
 * Makes a relative SQLite filename of the configuration's knex (`connection: "./app.sqlite3"` or
 * `connection: { filename: "./app.sqlite3" }`) absolute against `baseDir`, the config file's
 * directory, before any connection opens: run from a subdirectory, SQLite would otherwise create a
 * new empty database there. `:memory:`, `file:` URIs, absolute paths, other dialects and a
 * connection given as a function are left alone.
 */
export function resolveSqlitePath(db: UpkeepConfig["db"], baseDir: string): ResolvedSqlitePath | undefined {
  const client = db?.client as SqliteClient | undefined;
  if (client?.dialect !== "sqlite3" || typeof client.connectionConfigProvider === "function") return undefined;
  const settings = client.connectionSettings;
  const filename = settings?.filename;
  if (!settings || typeof filename !== "string" || !isPathLike(filename)) return undefined;
  const to = resolve(baseDir, filename);
  settings.filename = to;
  return { from: filename, to };
}

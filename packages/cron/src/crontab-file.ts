import { execFile } from "node:child_process";
import { AdapterError } from "@upkeep/core";
import { markers } from "./render.ts";

/** Where the crontab lives: the `crontab` command, or another executable with its `-l` / `-` interface. */
export interface CrontabOptions {
  /**
   * The crontab executable: `-l` prints the user's crontab, `-` replaces it from stdin.
   * @default "crontab"
   */
  crontab?: string;
  /**
   * The block's name, as given to `renderCrontab`.
   * @default "default"
   */
  name?: string;
}

/** What `installCrontab` / `uninstallCrontab` did. */
export interface CrontabChange {
  /** False when the crontab already was as asked, so nothing was written. */
  changed: boolean;
  /** The crontab as it now is. */
  crontab: string;
}

function call(command: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The current crontab; empty when the user has none. */
export async function readCrontab(options: CrontabOptions = {}): Promise<string> {
  const crontab = options.crontab ?? "crontab";
  const result = await call(crontab, ["-l"]).catch((error: unknown) => {
    throw new AdapterError("cron", `could not run ${crontab} -l`, { cause: error });
  });
  if (result.code === 0) return result.stdout;
  if (/no crontab/i.test(result.stderr)) return "";
  throw new AdapterError("cron", `${crontab} -l exited with ${result.code}: ${result.stderr.trim()}`);
}

async function writeCrontab(text: string, options: CrontabOptions): Promise<void> {
  const crontab = options.crontab ?? "crontab";
  const result = await call(crontab, ["-"], text);
  if (result.code !== 0) throw new AdapterError("cron", `${crontab} - exited with ${result.code}: ${result.stderr.trim()}`);
}

/** `text` without upkeep's block of this name, every other line kept as it was. */
export function withoutBlock(text: string, name?: string): string {
  const { begin, end } = markers(name);
  const lines = text.split("\n");
  const start = lines.indexOf(begin);
  if (start === -1) return text;
  const stop = lines.indexOf(end, start);
  if (stop === -1) throw new AdapterError("cron", `the crontab has "${begin}" without its end marker; fix it by hand`);
  lines.splice(start, stop - start + 1);
  return lines.join("\n");
}

/** `text` with `block` in place of an earlier block of this name, or appended. */
export function withBlock(text: string, block: string, name?: string): string {
  const { begin } = markers(name);
  const lines = text.split("\n");
  const start = lines.indexOf(begin);
  if (start !== -1) {
    const rest = withoutBlock(text, name).split("\n");
    rest.splice(start, 0, ...block.replace(/\n$/, "").split("\n"));
    return rest.join("\n");
  }
  const base = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return `${base}${block}`;
}

/** Writes `block` (from `renderCrontab`) into the user's crontab, replacing an earlier one. Idempotent. */
export async function installCrontab(block: string, options: CrontabOptions = {}): Promise<CrontabChange> {
  const current = await readCrontab(options);
  const next = withBlock(current, block, options.name);
  if (next === current) return { changed: false, crontab: current };
  await writeCrontab(next, options);
  return { changed: true, crontab: next };
}

/** Removes upkeep's block from the user's crontab, leaving every other line alone. Idempotent. */
export async function uninstallCrontab(options: CrontabOptions = {}): Promise<CrontabChange> {
  const current = await readCrontab(options);
  const next = withoutBlock(current, options.name);
  if (next === current) return { changed: false, crontab: current };
  await writeCrontab(next, options);
  return { changed: true, crontab: next };
}

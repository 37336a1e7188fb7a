import { execFile } from "node:child_process";
import { promisify } from "node:util";

const exec = promisify(execFile);

/**
 * Runs a crontab line the way cron does: drops the five time fields, turns `\%` into `%` (an
 * unescaped `%` would end the command), and starts `sh -c` in a bare environment.
 */
export async function runAsCron(line: string): Promise<void> {
  const command = line.split(" ").slice(5).join(" ");
  if (command.replace(/\\%/g, "").includes("%")) throw new Error("the line has an unescaped %: cron would cut the command there");
  await exec("env", ["-i", "sh", "-c", command.replace(/\\%/g, "%")]);
}

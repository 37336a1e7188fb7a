// A small stand-in for the `upkeep` command's cron verbs, built on @upkeep/cron:
//   crontab [--tick] [--install | --uninstall]   print, install or remove the crontab block
//   run <id> --scheduled                         what a per-task line runs
//   tick                                         what the single `--tick` line runs
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { registerTasks } from "@upkeep/core";
import { cronAdapter, installCrontab, renderCrontab, tick, uninstallCrontab } from "@upkeep/cron";
import config from "./upkeep.config.ts";

const [verb, ...args] = process.argv.slice(2);
const upkeep = registerTasks(cronAdapter(), config);
const crontab = { crontab: process.env.CRONTAB ?? "crontab", name: "system-cron-example" };

try {
  if (verb === "crontab") {
    const block = renderCrontab(upkeep.jobs, {
      name: crontab.name,
      mode: args.includes("--tick") ? "tick" : "per-task",
      cwd: dirname(dirname(fileURLToPath(import.meta.url))),
      command: "node --conditions=dev-source --import tsx src/cli.ts",
      log: ".upkeep/cron.log",
    });
    if (args.includes("--install")) console.log((await installCrontab(block, crontab)).changed ? "installed" : "already installed");
    else if (args.includes("--uninstall")) console.log((await uninstallCrontab(crontab)).changed ? "removed" : "nothing to remove");
    else process.stdout.write(block);
  } else if (verb === "tick") {
    for (const run of await tick(upkeep)) console.log(`${run.taskId} ${run.scheduledFor.toISOString()} ${run.status}`);
  } else if (verb === "run" && args[0] && args.includes("--scheduled")) {
    const run = await upkeep.run(args[0], { scheduled: true });
    console.log(`${run.taskId} ${run.scheduledFor.toISOString()} ${run.status}`);
  } else {
    console.error("usage: cli.ts crontab [--tick] [--install | --uninstall] | run <id> --scheduled | tick");
    process.exitCode = 2;
  }
} finally {
  await upkeep.stop();
  await config.db.destroy();
}

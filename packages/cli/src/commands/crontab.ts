import { installCrontab, renderCrontab, uninstallCrontab } from "@upkeep/cron";
import type { Command } from "../command.ts";
import { EXIT, UsageError } from "../command.ts";
import { json } from "../format.ts";

/** `upkeep crontab`: prints, installs or removes the crontab block of the loaded configuration. */
export const crontabCommand: Command = {
  name: "crontab",
  summary: "Print the crontab block for the config, or install / remove it in your crontab",
  usage:
    "upkeep crontab [--install | --uninstall] [--tick] [--name <name>] [--log <file>] [--env-file <file>] [--cron-timezone <zone>] [--json]",
  options: {
    install: { type: "boolean", description: "Write the block into your crontab, replacing an earlier one; other lines stay" },
    uninstall: { type: "boolean", description: "Remove the block from your crontab; other lines stay" },
    tick: { type: "boolean", description: "One `* * * * * upkeep tick` line instead of one line per task" },
    name: { type: "string", description: "Name of the block, so several apps can share a crontab (default: default)" },
    log: { type: "string", description: "Append each line's output to this file" },
    "env-file": { type: "string", description: "A KEY=value file each line sources before upkeep starts (keep it chmod 600)" },
    "cron-timezone": { type: "string", description: "The timezone cron reads patterns in (default: the system's)" },
    "crontab-command": { type: "string", description: "The crontab executable to read and write with (default: crontab)" },
  },
  async run(ctx) {
    const { flags } = ctx;
    if (flags.install === true && flags.uninstall === true) throw new UsageError("--install and --uninstall cannot be combined");
    const str = (name: string) => (typeof flags[name] === "string" ? (flags[name] as string) : undefined);
    const target = { crontab: str("crontab-command"), name: str("name") };
    if (flags.uninstall === true) {
      const { changed } = await uninstallCrontab(target);
      ctx.stdout(
        ctx.json
          ? json({ action: "uninstall", changed })
          : changed
            ? "Removed upkeep's block from the crontab.\n"
            : "No upkeep block to remove.\n",
      );
      return EXIT.ok;
    }
    const block = renderCrontab(ctx.upkeep.jobs, {
      mode: flags.tick === true ? "tick" : "per-task",
      name: target.name,
      cwd: ctx.cwd,
      config: str("config") === undefined ? undefined : ctx.configPath,
      log: str("log"),
      envFile: str("env-file"),
      cronTimezone: str("cron-timezone"),
    });
    if (flags.install !== true) {
      ctx.stdout(ctx.json ? json({ action: "print", block }) : block);
      return EXIT.ok;
    }
    const { changed } = await installCrontab(block, target);
    ctx.stdout(
      ctx.json
        ? json({ action: "install", changed, block })
        : changed
          ? "Installed upkeep's block into the crontab.\n"
          : "The crontab already has this block.\n",
    );
    return EXIT.ok;
  },
};

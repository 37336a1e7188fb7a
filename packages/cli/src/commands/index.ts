import type { Command } from "../command.ts";
import { crontabCommand } from "./crontab.ts";
import { dashboardCommand } from "./dashboard.ts";
import { eventsCommand } from "./events.ts";
import { healthCommand } from "./health.ts";
import { iocCommand } from "./ioc.ts";
import { keysCommand } from "./keys.ts";
import { listCommand } from "./list.ts";
import { migrateCommand } from "./migrate.ts";
import { pauseCommand, resumeCommand } from "./pause.ts";
import { runCommand } from "./run.ts";
import { statusCommand } from "./status.ts";
import { tickCommand } from "./tick.ts";

/** Every `upkeep` command, in the order `upkeep --help` lists them. A new command is one file here plus one line. */
export const commands: readonly Command[] = [
  listCommand,
  runCommand,
  statusCommand,
  healthCommand,
  dashboardCommand,
  eventsCommand,
  pauseCommand,
  resumeCommand,
  migrateCommand,
  keysCommand,
  iocCommand,
  crontabCommand,
  tickCommand,
];

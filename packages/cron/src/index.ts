/**
 * The system-cron adapter: renders and installs crontab lines.
 * @module @upkeep/cron
 */
export { type CronAdapter, cronAdapter } from "./cron-adapter.ts";
export {
  type CrontabChange,
  type CrontabOptions,
  installCrontab,
  readCrontab,
  uninstallCrontab,
  withBlock,
  withoutBlock,
} from "./crontab-file.ts";
export {
  type CrontabJob,
  type CrontabMode,
  escapePercent,
  markers,
  type RenderOptions,
  renderCommand,
  renderCrontab,
  shellQuote,
} from "./render.ts";
export { tick } from "./tick.ts";

import { constants } from "node:os";
import type { Logger } from "./logger.ts";

/** Options of `upkeep.stopOnSignals()`. */
export interface StopOnSignalsOptions {
  /**
   * The signals that stop the process.
   * @default ["SIGTERM", "SIGINT"]
   */
  signals?: readonly NodeJS.Signals[];
  /**
   * How long `stop()` waits for runs in flight, in milliseconds; keep it below the orchestrator's
   * kill grace period.
   * @default the configuration's `shutdownTimeout` ("30s")
   */
  timeout?: number;
  /**
   * Closes what the host owns once upkeep has stopped: its knex pool (`() => db.destroy()`), a Redis
   * client, an HTTP server. Called even when `stop()` failed; upkeep never closes them itself.
   * @default nothing to close
   */
  close?: () => Promise<void> | void;
  /**
   * Exit the process when done: code 0 when `stop()` and `close` succeeded, 1 when either failed.
   * `false` sets `process.exitCode` instead and lets the process end once nothing keeps it alive.
   * @default true
   */
  exit?: boolean;
}

/** The shell's code for death by a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 15);
}

/**
 * Installs the signal listeners behind `upkeep.stopOnSignals()`. A listener replaces Node's default
 * exit on that signal, so the listener itself must end the process: after `stop`, after `close`,
 * and at once on a second signal. Returns the function that removes the listeners.
 */
export function installStopOnSignals(
  stop: (options: { timeout?: number }) => Promise<void>,
  logger: Logger,
  options: StopOnSignalsOptions = {},
): () => void {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const exit = options.exit ?? true;
  let stopping = false;

  const shutdown = async (signal: NodeJS.Signals): Promise<number> => {
    logger.info({ signal }, `[upkeep] ${signal}: stopping`);
    let code = 0;
    try {
      await stop({ timeout: options.timeout });
    } catch (error) {
      code = 1;
      logger.error({ err: error }, "[upkeep] stop failed");
    }
    try {
      await options.close?.();
    } catch (error) {
      code = 1;
      logger.error({ err: error }, "[upkeep] the host's close failed");
    }
    return code;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, `[upkeep] second ${signal}: exiting now`);
      process.exit(signalExitCode(signal));
    }
    stopping = true;
    void shutdown(signal).then((code) => {
      if (exit) process.exit(code);
      process.exitCode = code;
    });
  };

  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}

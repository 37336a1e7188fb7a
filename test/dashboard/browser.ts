import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** Debian's chromium package; the browser tests never download a browser. */
export const CHROMIUM = process.env.UPKEEP_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Whether the browser tests run: they skip on a developer machine without chromium, and fail
 * under CI=true (where .ci/run installs it), so a missing browser never passes CI silently.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === "true") throw new Error(`chromium is missing at ${CHROMIUM}; .ci/run installs Debian's chromium package`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  return chromium.launch({ executablePath: CHROMIUM, args: root ? ["--no-sandbox"] : [], headless: true });
}

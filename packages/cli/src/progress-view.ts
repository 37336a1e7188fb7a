import type { Progress } from "@upkeep/core";

const BAR_WIDTH = 20;
const UP = (lines: number) => `\x1b[${lines}A`;
const CLEAR_LINE = "\r\x1b[2K";

/** One progress line: `policies.sessions [██████░░░░] 60% 600/1000 rows`. */
export function progressLine(label: string, progress: Progress): string {
  const unit = progress.unit ? ` ${progress.unit}` : "";
  if (progress.total === undefined || progress.total <= 0) return `${label} ${progress.done}${unit}`;
  const share = Math.min(1, Math.max(0, progress.done / progress.total));
  const filled = Math.round(share * BAR_WIDTH);
  const bar = `${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}`;
  return `${label} [${bar}] ${String(Math.floor(share * 100)).padStart(3)}% ${progress.done}/${progress.total}${unit}`;
}

export interface ProgressViewOptions {
  write: (text: string) => void;
  /** The label of progress that names none (the task id). */
  label: string;
  /**
   * Least time between two redraws; the last state is always drawn by `finish`.
   * @default 100
   */
  intervalMs?: number;
}

/**
 * Live progress on a terminal: one line per progress label, redrawn in place (the cursor moves up
 * over the block it drew last and rewrites it).
 */
export class ProgressView {
  readonly #lines = new Map<string, string>();
  readonly #options: ProgressViewOptions;
  #drawn = 0;
  #lastDraw = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProgressViewOptions) {
    this.#options = options;
  }

  update(progress: Progress): void {
    const label = progress.label ?? this.#options.label;
    const isNew = !this.#lines.has(label);
    this.#lines.set(label, progressLine(label, progress));
    const wait = (this.#options.intervalMs ?? 100) - (Date.now() - this.#lastDraw);
    if (isNew || wait <= 0) this.#draw();
    else this.#timer ??= setTimeout(() => this.#draw(), wait).unref();
  }

  /** Draws the final state; call once the run is over. */
  finish(): void {
    if (this.#lines.size > this.#drawn || this.#timer) this.#draw();
  }

  #draw(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lastDraw = Date.now();
    let text = this.#drawn > 0 ? UP(this.#drawn) : "";
    for (const line of this.#lines.values()) text += `${CLEAR_LINE}${line}\n`;
    this.#drawn = this.#lines.size;
    this.#options.write(text);
  }
}

import * as z from "zod";

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/** A duration: milliseconds as a number, or a string such as `'90d'`, `'15m'`, `'500ms'`. */
export type Duration = number | `${number}${"ms" | "s" | "m" | "h" | "d" | "w"}`;

/** Milliseconds of a duration, or `undefined` when the text is not one. */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  return Number(amount) * (UNITS[unit as string] as number);
}

/** A zod field taking a `Duration` and giving its milliseconds; the message names no value. */
export const durationMs = z
  .union([z.number(), z.string()])
  .refine((value) => parseDuration(value) !== undefined, { message: "expected milliseconds or a duration such as '30s', '1h', '7d'" })
  .transform((value) => parseDuration(value) as number);

const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00.000Z: from here on `toISOString` writes a six-digit signed year. */
const YEAR_10000 = 253_402_300_800_000;

let cachedDay = Number.NaN;
let cachedPrefix = "";

const pad2 = (value: number): string => (value < 10 ? `0${value}` : `${value}`);
const pad3 = (value: number): string => (value < 10 ? `00${value}` : value < 100 ? `0${value}` : `${value}`);

/**
 * `new Date(ms).toISOString()`, several times faster for the many nearby instants of one pass: the
 * date part is formatted once per day and reused, the time of day is plain arithmetic. A pass
 * formats two instants per token for its events, 20,000 for 10,000 tokens. Instants outside years
 * 1970–9999 go through `toISOString` itself (which throws a RangeError for an invalid one, as before).
 */
export function isoTime(ms: number): string {
  const time = Math.trunc(ms);
  if (!(time >= 0 && time < YEAR_10000)) return new Date(ms).toISOString();
  const day = Math.floor(time / DAY_MS);
  if (day !== cachedDay) {
    cachedPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let rest = time - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${cachedPrefix}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(rest - seconds * 1000)}Z`;
}

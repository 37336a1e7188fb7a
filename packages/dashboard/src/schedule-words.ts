const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const NUMBER = /^\d+$/;

const two = (value: string) => value.padStart(2, "0");

function ordinal(day: number): string {
  const tens = day % 100;
  if (tens >= 11 && tens <= 13) return `${day}th`;
  return `${day}${["th", "st", "nd", "rd"][day % 10] ?? "th"}`;
}

/**
 * A 5-field cron pattern in words for the common shapes (every minute, every N minutes, hourly,
 * daily, weekly, monthly); any other pattern is returned as it is.
 */
export function scheduleInWords(pattern: string): string {
  const fields = pattern.trim().split(/\s+/);
  if (fields.length !== 5) return pattern;
  const [minute, hour, day, month, weekday] = fields as [string, string, string, string, string];
  if (month !== "*") return pattern;
  const anyDay = day === "*" && weekday === "*";
  if (minute === "*" && hour === "*" && anyDay) return "every minute";
  const step = /^\*\/(\d+)$/.exec(minute);
  if (step && hour === "*" && anyDay) return `every ${step[1]} minutes`;
  if (!NUMBER.test(minute)) return pattern;
  if (hour === "*" && anyDay) return `every hour at minute ${Number(minute)}`;
  if (!NUMBER.test(hour)) return pattern;
  const at = `${two(hour)}:${two(minute)}`;
  if (anyDay) return `every day at ${at}`;
  if (day === "*" && NUMBER.test(weekday) && Number(weekday) <= 7) return `every ${DAYS[Number(weekday) % 7]} at ${at}`;
  if (weekday === "*" && NUMBER.test(day)) return `on the ${ordinal(Number(day))} of every month at ${at}`;
  return pattern;
}

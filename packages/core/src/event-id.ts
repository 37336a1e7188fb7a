import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

let lastTime = -1;
let lastRandom: number[] = [];

function randomDigits(): number[] {
  const bytes = randomBytes(RANDOM_CHARS);
  return [...bytes].map((byte) => byte & 31);
}

/** Adds one to the base-32 digits; false when they overflowed (all ones). */
function increment(digits: number[]): boolean {
  for (let i = digits.length - 1; i >= 0; i--) {
    if ((digits[i] as number) < 31) {
      digits[i] = (digits[i] as number) + 1;
      return true;
    }
    digits[i] = 0;
  }
  return false;
}

/**
 * A ULID (26 characters, Crockford base 32: 48 bits of epoch milliseconds, then 80 random bits),
 * monotonic within this process: ids made in the same millisecond sort in the order they were made.
 */
export function newEventId(now: number = Date.now()): string {
  let time = Math.max(now, lastTime);
  if (time === lastTime) {
    if (!increment(lastRandom)) {
      time++;
      lastRandom = randomDigits();
    }
  } else {
    lastRandom = randomDigits();
  }
  lastTime = time;
  let head = "";
  let rest = time;
  for (let i = 0; i < TIME_CHARS; i++) {
    head = ALPHABET[rest % 32] + head;
    rest = Math.floor(rest / 32);
  }
  return head + lastRandom.map((digit) => ALPHABET[digit]).join("");
}

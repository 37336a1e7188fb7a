// Allocation-free IPv4/IPv6 parsing over a slice of a string, shared by the normaliser and the matcher.

const DOT = 46;
const COLON = 58;

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * Parses a dotted-quad IPv4 address in `text[from, to)` into an unsigned 32-bit number, or returns
 * -1. Octets are decimal; leading zeros are read as decimal (never octal). Allocates nothing.
 */
export function parseIPv4(text: string, from = 0, to = text.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      octet = octet * 10 + (code - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (code === DOT) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

const groups = new Uint16Array(8);

/**
 * Parses an IPv6 address in `text[from, to)` (with `::` compression and an optional dotted IPv4
 * tail) into four big-endian 32-bit words in `out`. Returns false when it is not one. Allocates
 * nothing.
 */
export function parseIPv6(text: string, from: number, to: number, out: Uint32Array): boolean {
  let count = 0;
  let gap = -1;
  let i = from;
  if (to - from < 2) return false;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < to) {
    if (count >= 8) return false;
    let end = i;
    let hasDot = false;
    while (end < to) {
      const code = text.charCodeAt(end);
      if (code === COLON) break;
      if (code === DOT) hasDot = true;
      end++;
    }
    if (end === i) return false;
    if (hasDot) {
      if (end !== to || count > 6) return false;
      const v4 = parseIPv4(text, i, end);
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (end - i > 4) return false;
    let group = 0;
    for (let j = i; j < end; j++) {
      const digit = hexValue(text.charCodeAt(j));
      if (digit < 0) return false;
      group = group * 16 + digit;
    }
    groups[count++] = group;
    i = end;
    if (i === to) break;
    // At a colon: either a separator or the start of `::`.
    if (i + 1 < to && text.charCodeAt(i + 1) === COLON) {
      if (gap >= 0) return false;
      gap = count;
      i += 2;
    } else {
      i += 1;
      if (i === to) return false;
    }
  }
  if (gap < 0) {
    if (count !== 8) return false;
  } else {
    if (count > 7) return false;
    const tail = count - gap;
    const shift = 8 - count;
    for (let k = tail - 1; k >= 0; k--) groups[gap + shift + k] = groups[gap + k] as number;
    for (let k = gap; k < gap + shift; k++) groups[k] = 0;
  }
  for (let w = 0; w < 4; w++) out[w] = (((groups[2 * w] as number) << 16) | (groups[2 * w + 1] as number)) >>> 0;
  return true;
}

/** Whether four words are an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
export function isMappedIPv4(words: Uint32Array, offset = 0): boolean {
  return words[offset] === 0 && words[offset + 1] === 0 && words[offset + 2] === 0xffff;
}

/** "0" to "255", and the same with a dot after: a dotted quad is four reads and three joins. */
const OCTETS = Array.from({ length: 256 }, (_, octet) => String(octet));
const OCTETS_DOT = OCTETS.map((octet) => `${octet}.`);

/** The dotted-quad text of a 32-bit number. */
export function formatIPv4(value: number): string {
  return (
    (OCTETS_DOT[value >>> 24] as string) +
    (OCTETS_DOT[(value >>> 16) & 255] as string) +
    (OCTETS_DOT[(value >>> 8) & 255] as string) +
    (OCTETS[value & 255] as string)
  );
}

/** RFC 5952 text of four words: lower-case hex, no leading zeros, the longest zero run as `::`. */
export function formatIPv6(words: ArrayLike<number>): string {
  for (let w = 0; w < 4; w++) {
    const word = words[w] as number;
    groups[2 * w] = word >>> 16;
    groups[2 * w + 1] = word & 0xffff;
  }
  let bestStart = -1;
  let bestLength = 0;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let end = k;
    while (end < 8 && groups[end] === 0) end++;
    if (end - k > bestLength) {
      bestStart = k;
      bestLength = end - k;
    }
    k = end;
  }
  if (bestLength < 2) bestStart = -1;
  let text = "";
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      text += "::";
      k += bestLength - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += (groups[k] as number).toString(16);
  }
  return text;
}

/** Clears the host bits of a 32-bit address for a prefix length. */
export function maskIPv4(value: number, prefix: number): number {
  if (prefix <= 0) return 0;
  if (prefix >= 32) return value >>> 0;
  return (value & (~0 << (32 - prefix))) >>> 0;
}

/** Clears the host bits of four words in place for a prefix length. */
export function maskIPv6(words: Uint32Array, prefix: number): void {
  for (let w = 0; w < 4; w++) {
    const bits = Math.max(0, Math.min(32, prefix - 32 * w));
    words[w] = bits === 0 ? 0 : bits === 32 ? (words[w] as number) : ((words[w] as number) & (~0 << (32 - bits))) >>> 0;
  }
}

/** Four words as one 128-bit bigint. */
export function wordsToBigInt(words: ArrayLike<number>): bigint {
  let value = 0n;
  for (let w = 0; w < 4; w++) value = (value << 32n) | BigInt((words[w] as number) >>> 0);
  return value;
}

/** Writes a 128-bit bigint into four words at `offset`. */
export function bigIntToWords(value: bigint, out: Uint32Array, offset = 0): void {
  for (let w = 3; w >= 0; w--) {
    out[offset + w] = Number(value & 0xffffffffn);
    value >>= 32n;
  }
}

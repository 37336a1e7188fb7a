// What Python's `base64.urlsafe_b64decode` accepts, since that is how pyca/cryptography's Fernet
// reads keys and tokens (pyca/cryptography src/cryptography/fernet.py: `Fernet.__init__` and
// `_get_unverified_token_data`). CPython (Lib/base64.py) maps `-_` to `+/` and calls
// `binascii.a2b_base64` with strict_mode off (Modules/binascii.c), which:
// - takes both alphabets (`+/` and `-_`, even mixed);
// - discards every byte outside the alphabet and `=`: whitespace, newlines, `.`, `!` …;
// - needs padding: a final group of 2 or 3 characters without enough `=` is "Incorrect padding",
//   a final single character is an error too; `=` where no group needs it is discarded.
// A `str` argument must be ASCII (`ValueError` otherwise), so non-ASCII text is refused.
// CPython 3.11–3.12 stop at the `=` that completes a group and ignore the rest; 3.13 and later
// read on. They agree unless alphabet characters follow that `=`; such text is refused here.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const VALUES = new Map<string, number>([...ALPHABET].map((char, index) => [char, index]));
VALUES.set("-", 62);
VALUES.set("_", 63);

/** Decodes base64 as Python's `base64.urlsafe_b64decode(str)` does; undefined where Python raises (or CPython versions differ). */
export function pythonUrlsafeB64decode(text: string): Buffer | undefined {
  const out: number[] = [];
  let quad = 0;
  let left = 0;
  let pads = 0;
  let closed = false;
  for (const char of text) {
    if (char.charCodeAt(0) > 0x7f) return undefined;
    if (char === "=") {
      if (!closed && quad >= 2 && quad + ++pads >= 4) closed = true;
      continue;
    }
    const value = VALUES.get(char);
    if (value === undefined) continue;
    if (closed) return undefined;
    pads = 0;
    if (quad === 0) left = value;
    else if (quad === 1) {
      out.push((left << 2) | (value >> 4));
      left = value & 0x0f;
    } else if (quad === 2) {
      out.push(((left << 4) | (value >> 2)) & 0xff);
      left = value & 0x03;
    } else out.push(((left << 6) | value) & 0xff);
    quad = (quad + 1) % 4;
  }
  if (!closed && quad !== 0) return undefined;
  return Buffer.from(out);
}

/** Canonical padded url-safe base64, as Python's `base64.urlsafe_b64encode` writes it. */
export function urlsafeB64encode(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

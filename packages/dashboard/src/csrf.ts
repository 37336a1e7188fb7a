import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** The cookie holding the browser's random CSRF value; forms carry its HMAC. */
export const CSRF_COOKIE = "upkeep_csrf";

function cookies(request: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  const header = request.headers.cookie;
  if (!header) return out;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index > 0) out.set(part.slice(0, index).trim(), part.slice(index + 1).trim());
  }
  return out;
}

const VALUE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Signed double-submit tokens: a random value in a `SameSite=Strict`, `HttpOnly` cookie and, in
 * each form, its HMAC under the dashboard's secret. A POST must bring both and they must match, so
 * a page on another site (which can neither read the cookie nor compute the HMAC) cannot forge one.
 */
export class Csrf {
  readonly #secret: Buffer;
  constructor(secret: string | undefined) {
    this.#secret = secret ? Buffer.from(secret, "utf8") : randomBytes(32);
  }

  #sign(value: string): string {
    return createHmac("sha256", this.#secret).update(value).digest("base64url");
  }

  /** The request's cookie value, or a new one with the `Set-Cookie` header that sets it. */
  session(request: IncomingMessage, path: string): { value: string; setCookie: string | undefined } {
    const existing = cookies(request).get(CSRF_COOKIE);
    if (existing && VALUE.test(existing)) return { value: existing, setCookie: undefined };
    const value = randomBytes(32).toString("base64url");
    const secure = (request.socket as { encrypted?: boolean }).encrypted ? "; Secure" : "";
    return { value, setCookie: `${CSRF_COOKIE}=${value}; Path=${path}; HttpOnly; SameSite=Strict${secure}` };
  }

  /** The token a form carries for a cookie value. */
  token(value: string): string {
    return this.#sign(value);
  }

  /** Whether a POST's form token matches its cookie. */
  verify(request: IncomingMessage, token: string | undefined): boolean {
    const value = cookies(request).get(CSRF_COOKIE);
    if (!value || !VALUE.test(value) || typeof token !== "string") return false;
    const expected = Buffer.from(this.#sign(value));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/**
 * Whether a POST comes from a page of the same origin: `Sec-Fetch-Site: same-origin` where the
 * browser sends it, else an `Origin` whose host is the request's `Host` (or one of `origins`).
 * A request with neither header is refused.
 */
export function sameOrigin(request: IncomingMessage, origins: readonly string[]): boolean {
  const site = request.headers["sec-fetch-site"];
  if (typeof site === "string") return site === "same-origin";
  const origin = request.headers.origin;
  if (typeof origin !== "string" || origin === "null") return false;
  if (origins.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** What one POST to a webhook endpoint came to. `error` is built from fixed words and codes only. */
export type PostOutcome =
  | { kind: "delivered"; status: number }
  | { kind: "rejected"; status: number; error: string }
  | { kind: "unreachable"; error: string }
  | { kind: "stopped" };

export interface PostRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Stops the request without counting an attempt (shutdown). */
  signal: AbortSignal;
}

/** A driver error code (`ECONNREFUSED`, `UND_ERR_SOCKET`), from the error or what it wraps. */
function errorCode(error: unknown): string | undefined {
  for (let link = error, depth = 0; typeof link === "object" && link !== null && depth < 4; depth++) {
    const { code, cause } = link as { code?: unknown; cause?: unknown };
    if (typeof code === "string" && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
    link = cause;
  }
  return undefined;
}

/**
 * POSTs the signed body once. Redirects are never followed: a 3xx is a failed attempt with its
 * status, so an endpoint cannot send the signed event (or the receiver's trust in it) to another
 * host. The response body is never read: only the status counts, and a hostile endpoint cannot
 * make the sender buffer or parse anything.
 */
export async function postSigned(request: PostRequest): Promise<PostOutcome> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: AbortSignal.any([timeout, request.signal]),
    });
  } catch (error) {
    if (request.signal.aborted) return { kind: "stopped" };
    if (timeout.aborted) return { kind: "unreachable", error: `no response within ${request.timeoutMs} ms` };
    const code = errorCode(error);
    return { kind: "unreachable", error: `connection failed${code ? ` (${code})` : ""}` };
  }
  await response.body?.cancel().catch(() => undefined);
  const { status } = response;
  if (status >= 200 && status < 300) return { kind: "delivered", status };
  if (status >= 300 && status < 400) return { kind: "rejected", status, error: `HTTP ${status}: redirect not followed` };
  return { kind: "rejected", status, error: `HTTP ${status}` };
}

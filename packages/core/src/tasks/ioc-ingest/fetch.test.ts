import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeedFetchError, type FetchLimits, fetchFeed, MAX_REDIRECTS, redirectProblem } from "./fetch.ts";
import { resolveHeaders } from "./read-feed.ts";

// Issue 21 items 2 (secrets on redirect) and 6 (socket leak), against real local HTTP servers:
// two ports on 127.0.0.1 are two origins.

/** The sockets each server received a request on. */
const carriers = new WeakMap<Server, Set<Socket>>();
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface Origin {
  server: Server;
  base: string;
  routes: Map<string, Handler>;
  seen: Array<{ path: string; headers: IncomingMessage["headers"] }>;
}

async function origin(): Promise<Origin> {
  const routes = new Map<string, Handler>();
  const seen: Origin["seen"] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    sockets.add(req.socket);
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    seen.push({ path, headers: req.headers });
    const handler = routes.get(path);
    if (handler) handler(req, res);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  carriers.set(server, sockets);
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, routes, seen };
}

let a: Origin;
let b: Origin;
beforeAll(async () => {
  a = await origin();
  b = await origin();
});
afterAll(async () => {
  for (const { server } of [a, b]) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

const SECRET = "sk_redirect_0a1b2c3d";
const limits = (extra: Partial<FetchLimits> = {}): FetchLimits => ({
  maxBytes: 1 << 20,
  timeoutMs: 5000,
  allowHttp: true,
  signal: new AbortController().signal,
  ...extra,
});

async function read(body: AsyncIterable<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of body) text += Buffer.from(chunk).toString();
  return text;
}

async function download(url: string, extra: Partial<FetchLimits> = {}): Promise<string> {
  const result = await fetchFeed({ url, headers: { "x-api-key": SECRET, "Auth-Key": SECRET } }, limits(extra));
  if (result.status !== "ok") return "not modified";
  return read(result.body);
}

/** Writes chunks for as long as the client reads them, never ending the response. */
function endless(res: ServerResponse, chunk: Buffer | string = "45.155.205.233\n".repeat(1000)): void {
  let open = true;
  res.on("close", () => {
    open = false;
  });
  const pump = () => {
    while (open && res.write(chunk));
    if (open) res.once("drain", pump);
  };
  pump();
}

/**
 * The server's open connections that carried a request, once they settle (polled: a close is seen
 * a moment later). Node's fetch may open a spare connection that never carries a request; counted
 * by `server.getConnections`, it is left out here.
 */
async function openConnections(server: Server): Promise<number> {
  let count = 0;
  for (let i = 0; i < 100; i++) {
    const total = await new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    count = Math.min(total, [...(carriers.get(server) ?? [])].filter((socket) => !socket.destroyed).length);
    if (count === 0) return 0;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return count;
}

describe("redirects (issue 21 item 2)", () => {
  it("drops the feed's headers on a hop to another origin, and keeps them on the feed's own origin", async () => {
    a.routes.set("/same", (_req, res) => {
      res.writeHead(302, { location: "/list" }).end();
    });
    a.routes.set("/list", (_req, res) => {
      res.writeHead(301, { location: `${b.base}/list` }).end();
    });
    b.routes.set("/list", (_req, res) => {
      res.writeHead(302, { location: `${a.base}/final` }).end();
    });
    a.routes.set("/final", (_req, res) => {
      res.end("45.155.205.233\n");
    });
    expect(await download(`${a.base}/same`)).toBe("45.155.205.233\n");
    const hits = [...a.seen, ...b.seen].filter((hit) => ["/same", "/list", "/final"].includes(hit.path));
    const keyed = (hit: (typeof hits)[number]) => hit.headers["x-api-key"] === SECRET && hit.headers["auth-key"] === SECRET;
    expect(a.seen.filter((hit) => hit.path === "/same" || hit.path === "/list").every(keyed)).toBe(true);
    expect(b.seen.filter((hit) => hit.path === "/list").map((hit) => [hit.headers["x-api-key"], hit.headers["auth-key"]])).toEqual([
      [undefined, undefined],
    ]);
    // Back on the first origin after a foreign hop, the headers stay dropped: that hop chose the URL.
    expect(a.seen.filter((hit) => hit.path === "/final").map((hit) => hit.headers["x-api-key"])).toEqual([undefined]);
    expect(hits.length).toBe(4);
  });

  it(`follows at most ${MAX_REDIRECTS} redirects`, async () => {
    a.routes.set("/loop", (_req, res) => {
      res.writeHead(307, { location: "/loop" }).end();
    });
    const before = a.seen.length;
    await expect(download(`${a.base}/loop`)).rejects.toThrow(new FeedFetchError(`more than ${MAX_REDIRECTS} redirects`, false));
    expect(a.seen.length - before).toBe(MAX_REDIRECTS + 1);
  });

  it("refuses a redirect to plain http unless allowed, and from https to http always, before sending it", async () => {
    const https = new URL("https://feeds.example/list");
    expect(redirectProblem(https, `${b.base}/list`, true)).toEqual({ problem: "refused a redirect from https to plain http" });
    expect(redirectProblem(https, "file:///etc/passwd", true)).toEqual({ problem: "refused a redirect to a non-http URL" });
    expect(redirectProblem(https, null, true)).toEqual({ problem: "redirect without a Location" });
    expect(redirectProblem(new URL(`${a.base}/list`), `${b.base}/list`, false)).toEqual({ problem: "refused a redirect to plain http" });
    expect(redirectProblem(https, "/next?page=2", false)).toEqual({ url: new URL("https://feeds.example/next?page=2") });
  });

  it("refuses a header value with CR or LF from the environment, naming the header and variable, never the value", () => {
    const value = `${SECRET}\r\nx-injected: 1`;
    let error: unknown;
    try {
      resolveHeaders({ "Auth-Key": { env: "IOC_KEY", optional: false } }, { IOC_KEY: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FeedFetchError);
    expect((error as Error).message).toBe("header Auth-Key: environment variable IOC_KEY holds CR, LF or other control characters");
    expect((error as Error).cause).toBeUndefined();
    expect(JSON.stringify(error)).not.toContain(SECRET);
  });
});

describe("every failed download closes its connection (issue 21 item 6)", () => {
  const modes: Array<{ name: string; handler: Handler; error: string; extra?: Partial<FetchLimits>; stopEarly?: boolean }> = [
    {
      name: "size cap mid-stream on a chunked body",
      handler: (_req, res) => endless(res),
      error: "size cap of 65536 bytes",
      extra: { maxBytes: 65_536 },
    },
    {
      name: "size cap mid-stream on a gzip body",
      handler: (_req, res) => {
        res.setHeader("content-encoding", "gzip");
        endless(res, gzipSync("45.155.205.233\n".repeat(100_000)));
      },
      error: "size cap of 65536 bytes",
      extra: { maxBytes: 65_536 },
    },
    {
      name: "timeout mid-body",
      handler: (_req, res) => {
        res.write("45.155.205.233\n");
      },
      error: "timed out after 300 ms",
      extra: { timeoutMs: 300 },
    },
    {
      name: "HTTP 500 with an endless body",
      handler: (_req, res) => {
        res.statusCode = 500;
        endless(res);
      },
      error: "HTTP 500",
    },
    {
      name: "a refused redirect with an endless body",
      handler: (_req, res) => {
        res.writeHead(302, { location: "file:///etc/passwd" });
        endless(res);
      },
      error: "refused a redirect to a non-http URL",
    },
    {
      name: "bad gzip mid-stream",
      handler: (_req, res) => {
        res.setHeader("content-encoding", "gzip");
        endless(res, Buffer.concat([gzipSync("x").subarray(0, 10), Buffer.alloc(65_536, 7)]));
      },
      error: "body is not valid gzip",
    },
    { name: "the reader stopping mid-stream", handler: (_req, res) => endless(res), error: "reader stopped", stopEarly: true },
  ];

  for (const mode of modes) {
    it(`${mode.name}: no connection stays open`, async () => {
      // A server of its own, so no idle connection of another test is counted.
      const c = await origin();
      c.routes.set("/feed", mode.handler);
      const attempt = async () => {
        const result = await fetchFeed({ url: `${c.base}/feed`, headers: {} }, limits(mode.extra));
        if (result.status !== "ok") return;
        for await (const _chunk of result.body) if (mode.stopEarly) throw new Error("reader stopped");
      };
      try {
        await expect(attempt()).rejects.toThrow(mode.error);
        expect(await openConnections(c.server)).toBe(0);
      } finally {
        c.server.closeAllConnections();
        await new Promise<void>((resolve) => c.server.close(() => resolve()));
      }
    });
  }
});

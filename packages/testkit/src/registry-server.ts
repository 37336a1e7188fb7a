import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import semver from "semver";

/** One published version of a package. */
export interface RegistryVersionFixture {
  /** Dependencies by name and range, as in its package.json. @default {} */
  dependencies?: Record<string, string>;
  /** Published as deprecated with this message. */
  deprecated?: string;
}

/** One package the local registry publishes. */
export interface RegistryPackageFixture {
  /** The package's name, with its scope (`@scope/name`). */
  name: string;
  /** Its versions, by version string. */
  versions: Record<string, RegistryVersionFixture>;
}

/**
 * An advisory as npm's bulk endpoint answers it (`id`, `url`, `title`, `severity`,
 * `vulnerable_versions`, `cwe`, `cvss`), with the package it is published against.
 */
export interface AdvisoryFixture {
  /** The advisory's numeric id, as npm's bulk endpoint gives it. */
  id: number;
  /** The name of the package it is published against. */
  package: string;
  /** `critical`, `high`, `moderate`, `low` or `info`. */
  severity: string;
  /** A semver range, such as `<6.0.1`. */
  vulnerableVersions: string;
  /** The advisory's title. @default a title naming the package */
  title?: string;
  /** The advisory's web page. @default `https://github.com/advisories/GHSA-fixture-<id>` */
  url?: string;
  /** The first fixed version, given to OSV answers as a `fixed` event. */
  fixed?: string;
  /** Which endpoints publish it: npm's bulk endpoint, the OSV API (as `GHSA-fixture-<id>`), or both. @default "both" */
  source?: "npm" | "osv" | "both";
}

/**
 * A fault the server injects. `on` picks the requests: `bulk` (the advisory endpoint) or
 * `packument`. `after` lets that many matching requests through first (so `after: 1` fails the
 * second batch); `times` is how many requests then fail (default 1).
 */
export type RegistryFault = RegistryFaultMatch &
  (
    | {
        /** An HTTP error status. */
        kind: "status";
        /** The status sent, such as 503. */
        status: number;
        /** Seconds sent as `Retry-After`; absent, no such header. */
        retryAfter?: number;
      }
    | {
        /** The connection is dropped before an answer. */
        kind: "drop";
      }
    | {
        /** The answer never comes (until the server closes). */
        kind: "hang";
      }
    | {
        /** A 200 whose body is not JSON. */
        kind: "malformed";
      }
  );

/** Which requests a registry fault hits, and how many. */
export interface RegistryFaultMatch {
  /** The requests it hits: `bulk` (the advisory endpoint) or `packument`. */
  on: "bulk" | "packument";
  /** Matching requests let through before it fires. @default 0 */
  after?: number;
  /** Matching requests that then fail. @default 1 */
  times?: number;
  /** Only requests for this package name. @default any package */
  name?: string;
}

/** Request counts, for asserting how a client batched. */
export interface RegistryServerStats {
  /** Every request received. */
  requests: number;
  /** POSTs to the bulk advisory endpoint. */
  bulkRequests: number;
  /** Package names asked for across every bulk request. */
  bulkNames: number;
  /** Packument GETs (304s included). */
  packumentRequests: number;
  /** Packument GETs answered 304. */
  notModified: number;
  /** Tarball GETs. */
  tarballRequests: number;
  /** OSV requests (`POST /v1/querybatch`, `GET /v1/vulns/:id`). */
  osvRequests: number;
  /** Every `Authorization` header value received, in order. */
  authorizations: string[];
}

/** The options of `startRegistryServer`. */
export interface RegistryServerOptions {
  /** The packages published at start. @default [] */
  packages?: RegistryPackageFixture[];
  /** The advisories published at start. @default [] */
  advisories?: AdvisoryFixture[];
  /** Faults to inject from the first request. @default [] */
  faults?: RegistryFault[];
  /** Answer only registry requests carrying `Authorization: Bearer <token>`; others get 401 (the OSV paths need none). */
  token?: string;
}

/** A local HTTP server speaking enough of the npm registry's API for npm, pnpm, yarn and upkeep. */
export interface RegistryServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** Request counts since start or the last `reset`. */
  readonly stats: RegistryServerStats;
  /** Publishes a package's versions (added to what it has). */
  publish(pkg: RegistryPackageFixture): void;
  /** Removes a version, as an unpublish does. */
  unpublish(name: string, version: string): void;
  /** Replaces every advisory. */
  setAdvisories(advisories: AdvisoryFixture[]): void;
  /** The `dist` the registry publishes for a version: `integrity` (sha512 SRI), `shasum` (sha1 hex), `tarball`. */
  dist(
    name: string,
    version: string,
  ): {
    /** The tarball's sha512 SRI string. */
    integrity: string;
    /** The tarball's sha1, hex. */
    shasum: string;
    /** The tarball's URL on this server. */
    tarball: string;
  };
  /** Adds faults. */
  inject(...faults: RegistryFault[]): void;
  /** Drops pending faults and zeroes the counters. */
  reset(): void;
  /** Stops the server and ends its open connections. */
  close(): Promise<void>;
}

interface Published {
  versions: Map<string, RegistryVersionFixture & { tarball: Buffer }>;
  modified: number;
}

function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, "utf8");
  header.write("0000644\0", 100, 8, "ascii");
  header.write("0000000\0", 108, 8, "ascii");
  header.write("0000000\0", 116, 8, "ascii");
  header.write(`${size.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii");
  header.write(`${(0).toString(8).padStart(11, "0")}\0`, 136, 12, "ascii");
  header.write("        ", 148, 8, "ascii");
  header.write("0", 156, 1, "ascii");
  header.write("ustar\0", 257, 6, "ascii");
  header.write("00", 263, 2, "ascii");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return header;
}

/** A gzipped tarball holding `package/package.json`, byte-for-byte the same for the same manifest. */
function tarball(manifest: object): Buffer {
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return gzipSync(Buffer.concat([tarHeader("package/package.json", body.length), body, padding, Buffer.alloc(1024)]), { level: 9 });
}

const basename = (name: string) => name.slice(name.indexOf("/") + 1);

/**
 * Starts a local registry: abbreviated packuments (`Accept: application/vnd.npm.install-v1+json`)
 * and full ones with ETags and 304s, tarballs, and npm's bulk advisory endpoint
 * (`POST /-/npm/v1/security/advisories/bulk`, gzip or plain JSON `{ name: [versions] }`, answered
 * `{ name: [advisory] }` for the advisories whose range takes one of the versions), OSV's
 * `POST /v1/querybatch` and `GET /v1/vulns/:id` for the same advisories, with faults on demand.
 * Listens on 127.0.0.1 on a free port.
 */
export async function startRegistryServer(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const packages = new Map<string, Published>();
  let advisories = [...(options.advisories ?? [])];
  let faults = (options.faults ?? []).map((fault) => ({ ...fault, seen: 0, used: 0 }));
  const zero = () => ({
    requests: 0,
    bulkRequests: 0,
    bulkNames: 0,
    packumentRequests: 0,
    notModified: 0,
    tarballRequests: 0,
    osvRequests: 0,
  });
  const stats: RegistryServerStats = { ...zero(), authorizations: [] };
  let url = "";
  let clock = Date.parse("2026-01-01T00:00:00Z");

  const publish = (pkg: RegistryPackageFixture) => {
    const entry = packages.get(pkg.name) ?? { versions: new Map(), modified: 0 };
    for (const [version, fixture] of Object.entries(pkg.versions)) {
      const manifest = { name: pkg.name, version, dependencies: fixture.dependencies ?? {} };
      entry.versions.set(version, { ...fixture, tarball: tarball(manifest) });
    }
    clock += 1000;
    entry.modified = clock;
    packages.set(pkg.name, entry);
  };
  for (const pkg of options.packages ?? []) publish(pkg);

  const dist = (name: string, version: string) => {
    const found = packages.get(name)?.versions.get(version);
    if (!found) throw new Error(`[upkeep testkit] ${name}@${version} is not published`);
    return {
      integrity: `sha512-${createHash("sha512").update(found.tarball).digest("base64")}`,
      shasum: createHash("sha1").update(found.tarball).digest("hex"),
      tarball: `${url}/${name}/-/${basename(name)}-${version}.tgz`,
    };
  };

  function packument(name: string, entry: Published, abbreviated: boolean): object {
    const versions: Record<string, object> = {};
    const sorted = [...entry.versions.keys()].sort(semver.compare);
    for (const version of sorted) {
      const fixture = entry.versions.get(version) as RegistryVersionFixture;
      versions[version] = {
        name,
        version,
        dependencies: fixture.dependencies ?? {},
        ...(fixture.deprecated ? { deprecated: fixture.deprecated } : {}),
        dist: dist(name, version),
      };
    }
    const latest = sorted.at(-1);
    const body = { name, "dist-tags": latest ? { latest } : {}, modified: new Date(entry.modified).toISOString(), versions };
    return abbreviated ? body : { ...body, _id: name, time: { modified: new Date(entry.modified).toISOString() } };
  }

  /** The fault for this request, if one is due. */
  function faultFor(on: "bulk" | "packument", name?: string) {
    for (const fault of faults) {
      if (fault.on !== on || (fault.name !== undefined && fault.name !== name)) continue;
      if (fault.used >= (fault.times ?? 1)) continue;
      if (fault.seen++ < (fault.after ?? 0)) continue;
      fault.used++;
      return fault;
    }
    return undefined;
  }

  const hanging = new Set<ServerResponse>();
  /** Answers the fault; false when there is none. */
  function applyFault(res: ServerResponse, fault: ReturnType<typeof faultFor>): boolean {
    if (!fault) return false;
    switch (fault.kind) {
      case "status":
        if (fault.retryAfter !== undefined) res.setHeader("retry-after", String(fault.retryAfter));
        res.statusCode = fault.status;
        res.end(JSON.stringify({ error: "injected fault" }));
        return true;
      case "drop":
        res.socket?.destroy();
        return true;
      case "hang":
        hanging.add(res);
        return true;
      case "malformed":
        res.setHeader("content-type", "application/json");
        res.end('{"truncated": [');
        return true;
    }
  }

  async function body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    return req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
  }

  async function bulk(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.bulkRequests++;
    const asked = JSON.parse((await body(req)).toString("utf8")) as Record<string, string[]>;
    stats.bulkNames += Object.keys(asked).length;
    if (applyFault(res, faultFor("bulk"))) return;
    const answer: Record<string, object[]> = {};
    for (const [name, versions] of Object.entries(asked)) {
      const matching = advisories.filter(
        (advisory) =>
          advisory.package === name &&
          advisory.source !== "osv" &&
          versions.some((version) => semver.valid(version) && semver.satisfies(version, advisory.vulnerableVersions)),
      );
      if (matching.length === 0) continue;
      answer[name] = matching.map((advisory) => ({
        id: advisory.id,
        url: advisory.url ?? `https://github.com/advisories/GHSA-fixture-${advisory.id}`,
        title: advisory.title ?? `Fixture advisory ${advisory.id} in ${name}`,
        severity: advisory.severity,
        vulnerable_versions: advisory.vulnerableVersions,
        cwe: ["CWE-1321"],
        cvss: { score: 7.5, vectorString: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" },
      }));
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(answer));
  }

  const osvId = (advisory: AdvisoryFixture) => `GHSA-fixture-${advisory.id}`;
  const osvPublished = () => advisories.filter((advisory) => advisory.source !== "npm");

  async function osvQuery(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.osvRequests++;
    const asked = JSON.parse((await body(req)).toString("utf8")) as {
      queries: Array<{ package: { name: string; ecosystem: string }; version: string }>;
    };
    const results = asked.queries.map((query) => {
      const vulns = osvPublished()
        .filter(
          (advisory) =>
            query.package.ecosystem === "npm" &&
            advisory.package === query.package.name &&
            semver.valid(query.version) &&
            semver.satisfies(query.version, advisory.vulnerableVersions),
        )
        .map((advisory) => ({ id: osvId(advisory), modified: "2026-01-01T00:00:00Z" }));
      return vulns.length > 0 ? { vulns } : {};
    });
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ results }));
  }

  function osvVuln(res: ServerResponse, id: string): void {
    stats.osvRequests++;
    const advisory = osvPublished().find((candidate) => osvId(candidate) === id);
    res.setHeader("content-type", "application/json");
    if (!advisory) {
      res.statusCode = 404;
      res.end(JSON.stringify({ code: 5, message: "Bug not found." }));
      return;
    }
    res.end(
      JSON.stringify({
        id,
        summary: advisory.title ?? `Fixture advisory ${advisory.id} in ${advisory.package}`,
        aliases: [`CVE-2026-${advisory.id}`],
        modified: "2026-01-01T00:00:00Z",
        affected: [
          {
            package: { ecosystem: "npm", name: advisory.package },
            ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, ...(advisory.fixed ? [{ fixed: advisory.fixed }] : [])] }],
          },
        ],
        database_specific: { severity: advisory.severity.toUpperCase() },
      }),
    );
  }

  function get(req: IncomingMessage, res: ServerResponse, path: string): void {
    const vuln = /^\/v1\/vulns\/([^/]+)$/.exec(path);
    if (vuln) {
      osvVuln(res, decodeURIComponent(vuln[1] as string));
      return;
    }
    const tarballMatch = /^\/((?:@[^/]+\/)?[^/@]+)\/-\/[^/]+-(\d[^/]*)\.tgz$/.exec(path);
    if (tarballMatch) {
      stats.tarballRequests++;
      const found = packages.get(tarballMatch[1] as string)?.versions.get(tarballMatch[2] as string);
      if (!found) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader("content-type", "application/octet-stream");
      res.end(found.tarball);
      return;
    }
    const name = decodeURIComponent(path.slice(1));
    stats.packumentRequests++;
    if (applyFault(res, faultFor("packument", name))) return;
    const entry = packages.get(name);
    if (!entry) {
      res.statusCode = 404;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ error: "Not found" }));
      return;
    }
    const abbreviated = String(req.headers.accept ?? "").includes("application/vnd.npm.install-v1+json");
    const text = JSON.stringify(packument(name, entry, abbreviated));
    const etag = `"${createHash("sha1").update(text).digest("hex")}"`;
    if (req.headers["if-none-match"] === etag) {
      stats.notModified++;
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader("etag", etag);
    res.setHeader("content-type", abbreviated ? "application/vnd.npm.install-v1+json" : "application/json");
    res.end(text);
  }

  const server = createServer((req, res) => {
    stats.requests++;
    const authorization = req.headers.authorization;
    if (authorization) stats.authorizations.push(authorization);
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    // The OSV API stands for another service: the registry's token is neither needed nor expected there.
    if (options.token !== undefined && !path.startsWith("/v1/") && authorization !== `Bearer ${options.token}`) {
      res.statusCode = 401;
      res.end(JSON.stringify({ error: "unauthorized" }));
      return;
    }
    const fail = (error: unknown) => {
      res.statusCode = 400;
      res.end(JSON.stringify({ error: error instanceof Error ? error.message : "bad request" }));
    };
    if (req.method === "POST" && path === "/-/npm/v1/security/advisories/bulk") {
      bulk(req, res).catch(fail);
      return;
    }
    if (req.method === "POST" && path === "/v1/querybatch") {
      osvQuery(req, res).catch(fail);
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") {
      get(req, res, path);
      return;
    }
    res.statusCode = 405;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    stats,
    publish,
    unpublish(name, version) {
      const entry = packages.get(name);
      entry?.versions.delete(version);
      if (entry) entry.modified = clock += 1000;
    },
    setAdvisories(next) {
      advisories = [...next];
    },
    dist,
    inject(...added) {
      faults.push(...added.map((fault) => ({ ...fault, seen: 0, used: 0 })));
    },
    reset() {
      faults = [];
      Object.assign(stats, zero());
      stats.authorizations.length = 0;
    },
    async close() {
      for (const res of hanging) res.socket?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

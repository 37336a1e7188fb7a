import semver from "semver";
import { TaskError } from "../../errors.ts";
import { defineTask, type TaskContext, type TaskDefinition, type TaskEvent } from "../../task.ts";
import { compareIntegrity } from "./integrity.ts";
import type { LockedPackage } from "./lock-graph.ts";
import { findLockfiles, readLockfile } from "./lockfile.ts";
import {
  atLeast,
  type DependencyAuditInput,
  type DependencyAuditOptions,
  dependencyAuditSchema,
  INTEGRITY_SEVERITY,
  SEVERITIES,
  type Severity,
  severityOf,
} from "./options.ts";
import {
  type BulkAdvisory,
  bulkAdvisories,
  fetchPackument,
  type OsvVulnerability,
  osvQueryBatch,
  osvVulnerability,
  type PackumentSummary,
  type RegistryClient,
  RegistryRequestError,
} from "./registry.ts";
import { type AuditFinding, auditTables, findingId, loadOpen, loadPackuments, type OpenFinding, writeAudit } from "./store.ts";

/** A finding no longer found: what it was. */
export type FixedFinding = Pick<OpenFinding, "kind" | "lockfile" | "package" | "version" | "advisory" | "severity">;

/** The stored result of a dependency-audit run. */
export interface DependencyAuditResult {
  /** Whether this was a dry run, which stored nothing. */
  dryRun: boolean;
  /** Each lockfile audited. */
  lockfiles: Array<{
    /** The lockfile's path, as configured or found. */
    path: string;
    /** The format it was read as: `npm-v<n>`, `pnpm-v<n>`, `yarn-v1` or `yarn-berry`. */
    format: string;
    /** Registry packages it locks (name and version). */
    packages: number;
    /** Instances skipped because they do not come from a registry (git, file, link, workspace). */
    skipped: number;
  }>;
  /** Distinct locked registry packages (name and version) audited. */
  packages: number;
  /**
   * Requests sent (retries included): bulk advisory batches, packument requests and how many of
   * those were answered 304, OSV requests; `naive` is what asking once per package would have sent.
   */
  requests: {
    /** Bulk advisory requests sent to the registry. */
    advisories: number;
    /** Packument requests sent to the registry. */
    packuments: number;
    /** Packument requests answered 304 Not Modified. */
    notModified: number;
    /** Requests sent to OSV; 0 without `osv`. */
    osv: number;
    /** Requests that asking once per package would have sent. */
    naive: number;
  };
  /** Every open finding; `new` marks those not open before this run. */
  open: Array<
    AuditFinding & {
      /** True when the finding was not open before this run. */
      new: boolean;
    }
  >;
  /** Findings open before this run and not found now. */
  fixed: FixedFinding[];
  /** Counts of the findings. */
  counts: {
    /** Findings open after this run, ignored ones included. */
    open: number;
    /** Open findings that were not open before this run. */
    new: number;
    /** Findings open before this run and not found now. */
    fixed: number;
    /** Open findings an ignore entry acknowledges. */
    ignored: number;
    /** Open findings per severity. */
    bySeverity: Record<Severity, number>;
  };
  /** Locked packages whose integrity was compared, and those it could not be (no shared hash algorithm, or none in the lockfile). */
  integrity: {
    /** Locked packages whose integrity was compared with the registry's. */
    checked: number;
    /** Locked packages that could not be compared. */
    unchecked: number;
  };
}

interface Instance {
  lockfile: string;
  pkg: LockedPackage;
}

function resolveToken(input: DependencyAuditInput): string | undefined {
  const token = input.registry.token;
  if (token === undefined || typeof token === "string") return token;
  const value = process.env[token.env];
  if (value === undefined || value === "") {
    throw new TaskError(`dependency-audit: registry.token: environment variable ${token.env} is not set`, { reason: "AUDIT_CONFIG" });
  }
  return value;
}

function registryFailure(what: string, error: unknown): TaskError {
  return new TaskError(`dependency-audit: ${what}; nothing was stored and no result stands for this run`, {
    retryable: true,
    reason: "AUDIT_REGISTRY_FAILED",
    cause: error instanceof RegistryRequestError ? undefined : error,
  });
}

/** The lowest published version above `version` that the vulnerable range does not take. */
function firstFixed(versions: string[] | undefined, version: string, range: string): string | undefined {
  if (!versions || !semver.validRange(range)) return undefined;
  const later = versions.filter((candidate) => semver.valid(candidate) && !semver.prerelease(candidate) && semver.gt(candidate, version));
  return later.sort(semver.compare).find((candidate) => !semver.satisfies(candidate, range));
}

async function pool<T>(items: T[], size: number, signal: AbortSignal, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (signal.aborted) throw signal.reason;
      await work(items[next++] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
}

const baseUrl = (url: string) => new URL(url.endsWith("/") ? url : `${url}/`);

/** An OSV entry's SEMVER ranges for `name` as a semver range, and its fixed versions. */
function osvRange(vuln: OsvVulnerability, name: string): { range: string; fixed: string[] } {
  const parts: string[] = [];
  const fixed: string[] = [];
  for (const affected of vuln.affected ?? []) {
    if (affected.package?.ecosystem !== "npm" || affected.package.name !== name) continue;
    for (const range of affected.ranges ?? []) {
      if (range.type !== "SEMVER") continue;
      let from: string | undefined;
      for (const event of range.events ?? []) {
        if (event.introduced !== undefined) from = event.introduced;
        const end = event.fixed ?? event.last_affected;
        if (end === undefined) continue;
        if (event.fixed) fixed.push(event.fixed);
        parts.push(`${from && from !== "0" ? `>=${from} ` : ""}${event.fixed ? "<" : "<="}${end}`);
        from = undefined;
      }
      if (from !== undefined) parts.push(from === "0" ? "*" : `>=${from}`);
    }
  }
  return { range: parts.join(" || ") || "*", fixed };
}

/**
 * Asks the OSV source about every locked `name@version`, `batchSize` per query batch, then fetches
 * each vulnerability found once; a failure fails the run the way a registry failure does.
 */
async function queryOsv(
  ctx: TaskContext,
  input: DependencyAuditInput,
  client: RegistryClient,
  versionsByName: Map<string, Set<string>>,
): Promise<Map<string, OsvVulnerability[]>> {
  const queries = [...versionsByName].flatMap(([name, versions]) => [...versions].map((version) => ({ name, version })));
  const batches = Math.ceil(queries.length / input.batchSize);
  const idsByPackage = new Map<string, string[]>();
  const vulns = new Map<string, OsvVulnerability>();
  try {
    for (let b = 0; b < batches; b++) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const slice = queries.slice(b * input.batchSize, (b + 1) * input.batchSize);
      const answer = await osvQueryBatch(client, slice, `OSV batch ${b + 1} of ${batches} (${slice.length} packages)`);
      slice.forEach((query, i) => {
        const ids = answer[i] ?? [];
        if (ids.length === 0) return;
        idsByPackage.set(`${query.name}@${query.version}`, ids);
        for (const id of ids) vulns.set(id, { id });
      });
    }
    await pool([...vulns.keys()], input.concurrency, ctx.signal, async (id) => {
      vulns.set(id, await osvVulnerability(client, id));
    });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    throw registryFailure(error instanceof RegistryRequestError ? error.message : "an OSV request failed", error);
  }
  return new Map([...idsByPackage].map(([key, ids]) => [key, ids.map((id) => vulns.get(id) as OsvVulnerability)]));
}

const eventSeverity = (severity: Severity): TaskEvent["severity"] =>
  atLeast(severity, "high") ? "critical" : severity === "moderate" ? "warning" : "info";

async function execute(ctx: TaskContext, input: DependencyAuditInput): Promise<DependencyAuditResult> {
  const db = ctx.db;
  if (!db && !ctx.dryRun) throw new TaskError("dependency-audit needs the host's database: set `db` in the upkeep configuration");
  const tables = auditTables(input.tablePrefix);
  const now = ctx.now().getTime();

  const paths = input.lockfiles ?? (await findLockfiles(input.root ?? process.cwd()));
  const instances: Instance[] = [];
  const lockfiles: DependencyAuditResult["lockfiles"] = [];
  for (const path of paths) {
    const lock = await readLockfile(path, input.maxPaths);
    const kept = input.dev ? lock.packages : lock.packages.filter((pkg) => !pkg.dev);
    lockfiles.push({ path, format: lock.format, packages: kept.length, skipped: lock.skipped });
    for (const pkg of kept) instances.push({ lockfile: path, pkg });
  }
  const versionsByName = new Map<string, Set<string>>();
  for (const { pkg } of instances) {
    const set = versionsByName.get(pkg.name) ?? new Set<string>();
    set.add(pkg.version);
    versionsByName.set(pkg.name, set);
  }
  const names = [...versionsByName.keys()].sort();
  const distinct = [...versionsByName.values()].reduce((sum, set) => sum + set.size, 0);

  const requests = { advisories: 0, packuments: 0, notModified: 0, osv: 0, naive: distinct * (input.integrity ? 2 : 1) };
  const registryUrl = baseUrl(input.registry.url);
  const client: RegistryClient = {
    base: registryUrl,
    token: resolveToken(input),
    timeoutMs: input.requestTimeout,
    retries: input.retries,
    maxRetryAfterMs: input.maxRetryAfter,
    maxResponseBytes: input.maxResponseBytes,
    signal: ctx.signal,
    count: (kind) => {
      requests[kind]++;
    },
  };

  const batches = Math.ceil(names.length / input.batchSize);
  const total = batches + (input.integrity ? names.length : 0);
  const advisories = new Map<string, BulkAdvisory[]>();
  for (let b = 0; b < batches; b++) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const slice = names.slice(b * input.batchSize, (b + 1) * input.batchSize);
    const what = `advisory batch ${b + 1} of ${batches} (${slice.length} packages, ${slice[0]} to ${slice.at(-1)})`;
    ctx.progress({ done: b, total, unit: "requests", label: "advisories" });
    let answer: Record<string, BulkAdvisory[]>;
    try {
      answer = await bulkAdvisories(client, Object.fromEntries(slice.map((name) => [name, [...(versionsByName.get(name) ?? [])]])), what);
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      throw registryFailure(error instanceof RegistryRequestError ? error.message : `${what} failed`, error);
    }
    for (const [name, list] of Object.entries(answer)) if (versionsByName.has(name) && list.length > 0) advisories.set(name, list);
  }

  const osv = input.osv
    ? await queryOsv(ctx, input, { ...client, base: baseUrl(input.osv.url), token: undefined }, versionsByName)
    : new Map();

  const needPackument = input.integrity ? names : names.filter((name) => advisories.has(name));
  const cached = db ? await loadPackuments(db, tables, registryUrl.href, needPackument) : new Map<string, PackumentSummary>();
  const summaries = new Map<string, PackumentSummary | null>();
  const fetched = new Map<string, PackumentSummary>();
  let done = batches;
  try {
    await pool(needPackument, input.concurrency, ctx.signal, async (name) => {
      const wanted = [...(versionsByName.get(name) ?? [])];
      const known = cached.get(name);
      const usable = known && wanted.every((version) => version in known.dist || !known.versions.includes(version));
      const answer = await fetchPackument(client, name, usable ? known.etag : null, wanted);
      if (answer.status === "not_modified" && known) {
        requests.notModified++;
        summaries.set(name, known);
      } else if (answer.status === "ok") {
        summaries.set(name, answer.summary);
        fetched.set(name, answer.summary);
      } else if (answer.status === "missing") {
        summaries.set(name, null);
      } else {
        throw new RegistryRequestError(`packument of ${name}: 304 without a cached copy`);
      }
      if (++done % 50 === 0) ctx.progress({ done, total, unit: "requests", label: "packuments" });
    });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    throw registryFailure(error instanceof RegistryRequestError ? error.message : "a packument request failed", error);
  }
  ctx.progress({ done: total, total, unit: "requests" });

  const findings: AuditFinding[] = [];
  const integrity = { checked: 0, unchecked: 0 };
  const allowed = new Set([registryUrl.host, ...input.allowedHosts.map((host) => host.toLowerCase())]);
  for (const { lockfile, pkg } of instances) {
    const base = { lockfile, package: pkg.name, version: pkg.version, dev: pkg.dev, paths: pkg.paths };
    const summary = summaries.get(pkg.name);
    for (const advisory of advisories.get(pkg.name) ?? []) {
      const range = typeof advisory.vulnerable_versions === "string" ? advisory.vulnerable_versions : "*";
      if (semver.validRange(range) && !semver.satisfies(pkg.version, range)) continue;
      findings.push({
        ...base,
        kind: "advisory",
        advisory: String(advisory.id),
        severity: severityOf(advisory.severity),
        title: typeof advisory.title === "string" ? advisory.title : undefined,
        url: typeof advisory.url === "string" ? advisory.url : undefined,
        vulnerableRange: range,
        fixedIn: firstFixed(summary?.versions, pkg.version, range),
      });
    }
    const npmIds = (advisories.get(pkg.name) ?? []).map((advisory) => String(advisory.url ?? advisory.id));
    for (const vuln of osv.get(`${pkg.name}@${pkg.version}`) ?? []) {
      // The same advisory through both sources is reported once, as the registry's.
      if ([vuln.id, ...(vuln.aliases ?? [])].some((id) => npmIds.some((known) => known === id || known.endsWith(`/${id}`)))) continue;
      const { range, fixed } = osvRange(vuln, pkg.name);
      findings.push({
        ...base,
        kind: "advisory",
        advisory: vuln.id,
        severity: severityOf(vuln.database_specific?.severity?.toLowerCase()),
        title: vuln.summary,
        url: new URL(`v1/vulns/${encodeURIComponent(vuln.id)}`, baseUrl(input.osv?.url as string)).href,
        vulnerableRange: range,
        fixedIn: fixed.filter((version) => semver.valid(version) && semver.gt(version, pkg.version)).sort(semver.compare)[0],
      });
    }
    if (!input.integrity) continue;
    const integrityFinding = (kind: keyof typeof INTEGRITY_SEVERITY, detail: string) =>
      findings.push({ ...base, kind, advisory: "", severity: INTEGRITY_SEVERITY[kind], detail });
    if (summary === null || (summary && !summary.versions.includes(pkg.version))) {
      integrityFinding(
        "integrity.unpublished",
        summary === null ? `the registry has no package ${pkg.name}` : `the registry has no version ${pkg.version}`,
      );
      continue;
    }
    const dist = summary?.dist[pkg.version];
    if (!dist) continue;
    const verdict = compareIntegrity(pkg.integrity, { integrity: dist[0], shasum: dist[1] });
    if (verdict === "unchecked") integrity.unchecked++;
    else integrity.checked++;
    if (verdict === "mismatch")
      integrityFinding("integrity.mismatch", "the lockfile's integrity differs from the registry's for this version");
    for (const resolved of pkg.resolved) {
      let host: string;
      try {
        host = new URL(resolved).host.toLowerCase();
      } catch {
        continue;
      }
      if (!allowed.has(host) && host !== dist[2]) integrityFinding("integrity.foreign_host", `resolved from ${host}, not the registry`);
    }
  }

  const open = db ? await loadOpen(db, tables, ctx.taskId) : new Map<string, OpenFinding>();
  const ignored = (finding: AuditFinding) =>
    input.ignore.find(
      (entry) =>
        Date.parse(entry.expires) > now &&
        (entry.package === undefined || entry.package === finding.package) &&
        (entry.advisory === finding.advisory || entry.advisory === finding.kind || finding.url?.endsWith(`/${entry.advisory}`) === true),
    );
  const alerted = new Set<string>();
  const report: DependencyAuditResult["open"] = [];
  const bySeverity = Object.fromEntries(SEVERITIES.map((level) => [level, 0])) as Record<Severity, number>;
  const failing: AuditFinding[] = [];
  const seen = new Set<string>();
  for (const finding of findings) {
    const id = findingId(ctx.taskId, finding);
    if (seen.has(id)) continue;
    seen.add(id);
    const ignore = ignored(finding);
    if (ignore) finding.ignored = { reason: ignore.reason, expires: ignore.expires };
    const known = open.get(id);
    report.push({ ...finding, new: !known });
    bySeverity[finding.severity]++;
    if (ignore) continue;
    if (input.failOn !== "none" && atLeast(finding.severity, input.failOn)) failing.push(finding);
    if (!ctx.dryRun && atLeast(finding.severity, input.alertAt) && (known?.alertedAt ?? null) === null) alerted.add(id);
  }
  const fixed = [...open.values()]
    .filter((row) => !seen.has(row.id))
    .map(({ kind, lockfile, package: name, version, advisory, severity }) => ({
      kind,
      lockfile,
      package: name,
      version,
      advisory,
      severity,
    }));

  if (!ctx.dryRun && db) {
    const events: TaskEvent[] = report
      .filter((finding) => alerted.has(findingId(ctx.taskId, finding)))
      .map((finding) => ({
        type: finding.kind === "advisory" ? "dependency.vulnerable" : `dependency.${finding.kind}`,
        security: true,
        severity: eventSeverity(finding.severity),
        data: {
          kind: finding.kind,
          package: finding.package,
          version: finding.version,
          advisory: finding.advisory || undefined,
          severity: finding.severity,
          url: finding.url,
          fixedIn: finding.fixedIn,
          dev: finding.dev,
          lockfile: finding.lockfile,
          paths: finding.paths.slice(0, 3),
        },
      }));
    await writeAudit(
      db,
      tables,
      {
        taskId: ctx.taskId,
        registry: registryUrl.href,
        now,
        findings: report.map(({ new: _new, ...finding }) => finding),
        alerted,
        packuments: fetched,
      },
      open,
      async (trx) => {
        if (events.length > 0) await ctx.emit(events, { trx });
      },
    );
  }

  const result: DependencyAuditResult = {
    dryRun: ctx.dryRun,
    lockfiles,
    packages: distinct,
    requests,
    open: report,
    fixed,
    counts: {
      open: report.length,
      new: report.filter((finding) => finding.new).length,
      fixed: fixed.length,
      ignored: report.filter((finding) => finding.ignored).length,
      bySeverity,
    },
    integrity,
  };
  ctx.logger.info(
    {
      packages: distinct,
      open: result.counts.open,
      new: result.counts.new,
      fixed: result.counts.fixed,
      requests: requests.advisories + requests.packuments,
    },
    "[upkeep] dependency audit checked",
  );
  if (failing.length > 0) {
    const listed = failing
      .slice(0, 5)
      .map(
        (finding) =>
          `${finding.package}@${finding.version} ${finding.kind === "advisory" ? finding.advisory : finding.kind} (${finding.severity})`,
      )
      .join(", ");
    throw new TaskError(
      `dependency-audit: ${failing.length} open finding(s) at or above ${input.failOn}: ${listed}${failing.length > 5 ? ", …" : ""}`,
      { reason: "AUDIT_FINDINGS_OPEN", result },
    );
  }
  return result;
}

/**
 * The `dependency-audit` task: reads the app's lockfiles (package-lock v2/v3, pnpm-lock 6.0 to
 * 9.0, yarn classic and Berry), asks the registry's bulk advisory endpoint about every locked
 * package in batches, compares each lockfile's integrity and hosts with the registry's abbreviated
 * packuments (cached with ETags), and stores its findings: each run reports what is new, fixed and
 * still open, alerts new findings as `security` events, and fails while a finding at or above
 * `failOn` is open.
 *
 * @throws {ConfigError} at registration, naming each invalid option.
 */
export function dependencyAuditTask(options: DependencyAuditOptions): TaskDefinition<DependencyAuditInput, DependencyAuditResult> {
  const { id, schedule, timezone, ...input } = options;
  return defineTask<DependencyAuditInput, DependencyAuditResult>({
    id: id ?? "dependency-audit",
    description: "Checks the app's lockfiles against published advisories and the registry's integrity hashes",
    schedule: schedule ?? "0 4 1 * *",
    timezone,
    input: dependencyAuditSchema,
    defaultInput: input,
    timeout: "30m",
    run: (ctx, parsed) => execute(ctx, parsed),
  });
}

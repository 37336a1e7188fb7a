import { createHash } from "node:crypto";
import type { Knex } from "knex";
import type { FindingKind, Severity } from "./options.ts";
import type { PackumentSummary } from "./registry.ts";

/** One finding of a run. */
export interface AuditFinding {
  /** What was found: a published advisory, or an integrity problem (a hash mismatch, a foreign host, an unpublished version). */
  kind: FindingKind;
  /** The lockfile it was found in, as configured or found. */
  lockfile: string;
  /** The affected package's name. */
  package: string;
  /** The affected locked version. */
  version: string;
  /** The advisory's id for `advisory`; empty for integrity findings. */
  advisory: string;
  /** How severe the finding is: the advisory's rating, or the fixed severity of its integrity kind. */
  severity: Severity;
  /** The advisory's title; absent for integrity findings. */
  title?: string;
  /** The advisory's web page; absent for integrity findings. */
  url?: string;
  /** The advisory's vulnerable range. */
  vulnerableRange?: string;
  /** The lowest published version above the locked one outside the vulnerable range, when known. */
  fixedIn?: string;
  /** True when only devDependencies reach the package. */
  dev: boolean;
  /** Who pulls it in, as `name@version` steps from the project. */
  paths: string[][];
  /** What an integrity check saw (the hosts, which hash), never a token. */
  detail?: string;
  /** Set when an ignore entry acknowledges it: its reason and expiry. */
  ignored?: {
    /** Why the ignore entry acknowledges the finding. */
    reason: string;
    /** The ignore entry's expiry date (`YYYY-MM-DD`). */
    expires: string;
  };
}

export interface AuditTables {
  findings: string;
  packuments: string;
}

export const auditTables = (prefix: string): AuditTables => ({
  findings: `${prefix}audit_findings`,
  packuments: `${prefix}audit_packuments`,
});

const digest = (...parts: string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex");

/** A finding's stored id: the same finding of the same task always has the same id. */
export const findingId = (taskId: string, finding: AuditFinding) =>
  digest(taskId, finding.lockfile, finding.kind, finding.package, finding.version, finding.advisory);

/** A stored finding that is open: what it is and when it was last alerted. */
export interface OpenFinding extends Pick<AuditFinding, "kind" | "lockfile" | "package" | "version" | "advisory" | "severity"> {
  id: string;
  alertedAt: number | null;
}

/** The task's open findings by id. */
export async function loadOpen(db: Knex, tables: AuditTables, taskId: string): Promise<Map<string, OpenFinding>> {
  const rows = await db(tables.findings)
    .where({ task_id: taskId, status: "open" })
    .select("id", "kind", "lockfile", "package", "version", "advisory", "severity", "alerted_at");
  return new Map(
    rows.map((row: Omit<OpenFinding, "alertedAt"> & { alerted_at: unknown }) => {
      const { alerted_at, ...rest } = row;
      return [row.id, { ...rest, alertedAt: alerted_at === null ? null : Number(alerted_at) }];
    }),
  );
}

const CHUNK = 500;

/** Cached packument summaries of `names` for `registry`. */
export async function loadPackuments(
  db: Knex,
  tables: AuditTables,
  registry: string,
  names: string[],
): Promise<Map<string, PackumentSummary>> {
  const found = new Map<string, PackumentSummary>();
  const ids = new Map(names.map((name) => [digest(registry, name), name]));
  const keys = [...ids.keys()];
  for (let i = 0; i < keys.length; i += CHUNK) {
    const rows = await db(tables.packuments)
      .whereIn("id", keys.slice(i, i + CHUNK))
      .select("id", "etag", "data");
    for (const row of rows as Array<{ id: string; etag: string | null; data: string }>) {
      const name = ids.get(row.id);
      if (name === undefined) continue;
      try {
        const data = JSON.parse(row.data) as Omit<PackumentSummary, "etag">;
        found.set(name, { etag: row.etag, versions: data.versions, dist: data.dist });
      } catch {
        // An unreadable cache row is ignored: the packument is fetched afresh.
      }
    }
  }
  return found;
}

/** What a run writes: every current finding, which ids were alerted now, and the packuments fetched. */
export interface AuditWrite {
  taskId: string;
  registry: string;
  now: number;
  findings: AuditFinding[];
  alerted: Set<string>;
  packuments: Map<string, PackumentSummary>;
}

/**
 * Stores a run's outcome in one transaction: current findings upserted open (a finding that was
 * fixed and came back is reopened with its alert cleared), open findings no longer found marked
 * fixed, fetched packuments cached. Nothing is written before the whole audit has succeeded, so a
 * run that fails part-way leaves the previous state as it was.
 */
export async function writeAudit(
  db: Knex,
  tables: AuditTables,
  write: AuditWrite,
  open: Map<string, OpenFinding>,
  within?: (trx: Knex.Transaction) => Promise<void>,
): Promise<void> {
  const { taskId, now } = write;
  const current = new Set<string>();
  await db.transaction(async (trx) => {
    const rows = write.findings.map((finding) => {
      const id = findingId(taskId, finding);
      current.add(id);
      const known = open.get(id);
      return {
        id,
        task_id: taskId,
        lockfile: finding.lockfile.slice(0, 1024),
        kind: finding.kind,
        package: finding.package,
        version: finding.version.slice(0, 256),
        advisory: finding.advisory.slice(0, 128),
        severity: finding.severity,
        title: finding.title?.slice(0, 512) ?? null,
        url: finding.url?.slice(0, 1024) ?? null,
        vulnerable_range: finding.vulnerableRange?.slice(0, 512) ?? null,
        fixed_in: finding.fixedIn ?? null,
        dev: finding.dev,
        paths: JSON.stringify(finding.paths),
        detail: finding.detail?.slice(0, 512) ?? null,
        status: "open",
        first_seen: now,
        last_seen: now,
        fixed_at: null,
        alerted_at: write.alerted.has(id) ? now : (known?.alertedAt ?? null),
      };
    });
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      const reopened = chunk.filter((row) => !open.has(row.id)).map((row) => row.id);
      if (reopened.length > 0) await trx(tables.findings).whereIn("id", reopened).delete();
      await trx(tables.findings)
        .insert(chunk)
        .onConflict("id")
        .merge(["severity", "title", "url", "vulnerable_range", "fixed_in", "dev", "paths", "detail", "last_seen", "alerted_at"]);
    }
    const gone = [...open.keys()].filter((id) => !current.has(id));
    for (let i = 0; i < gone.length; i += CHUNK) {
      await trx(tables.findings)
        .whereIn("id", gone.slice(i, i + CHUNK))
        .update({ status: "fixed", fixed_at: now });
    }
    const cache = [...write.packuments].map(([name, summary]) => ({
      id: digest(write.registry, name),
      name,
      etag: summary.etag?.slice(0, 512) ?? null,
      data: JSON.stringify({ versions: summary.versions, dist: summary.dist }),
      fetched_at: now,
    }));
    for (let i = 0; i < cache.length; i += CHUNK) {
      await trx(tables.packuments)
        .insert(cache.slice(i, i + CHUNK))
        .onConflict("id")
        .merge(["etag", "data", "fetched_at"]);
    }
    // What `within` writes (the alerts' events) commits with the findings that mark them alerted.
    await within?.(trx);
  });
}

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dependencyAuditTask } from "@upkeep/core";
import { type RegistryServer, startRegistryServer } from "@upkeep/testkit";
import {
  GENERATED_ORIGIN,
  LATER_PACKAGES,
  LOCKED_PACKAGES,
} from "../../../../packages/core/src/tasks/dependency-audit/fixtures/registry.ts";
import type { DemoScenario } from "../scenario.ts";

const SAMPLE = fileURLToPath(new URL("../../sample-app/", import.meta.url));
const APP = fileURLToPath(new URL("../../.upkeep/sample-app/", import.meta.url));
let server: RegistryServer | undefined;

/**
 * dependency-audit on the demo's sample app (`sample-app/package-lock.json`, written by npm) against a
 * local registry from @upkeep/testkit that publishes one advisory for a production dependency and one
 * for a dev-only one.
 */
export const dependencyAudit: DemoScenario = {
  title: "dependency-audit: the sample app's lockfile against published advisories and integrity hashes",
  async seed() {
    server = await startRegistryServer({
      packages: [...LOCKED_PACKAGES, ...LATER_PACKAGES],
      advisories: [
        { id: 1001, package: "qs-lite", severity: "high", vulnerableVersions: "<6.0.1", title: "Prototype pollution in qs-lite" },
        { id: 1002, package: "@fixture/glob", severity: "moderate", vulnerableVersions: "<2.0.0", title: "ReDoS in glob patterns" },
      ],
    });
    mkdirSync(APP, { recursive: true });
    // The lockfile names the registry it was made against; the demo's registry listens elsewhere.
    const lock = readFileSync(`${SAMPLE}package-lock.json`, "utf8").replaceAll(GENERATED_ORIGIN, server.url);
    writeFileSync(`${APP}package-lock.json`, lock);
    writeFileSync(`${APP}package.json`, readFileSync(`${SAMPLE}package.json`));
  },
  tasks: () => [
    {
      task: dependencyAuditTask({
        root: APP,
        registry: { url: server?.url ?? GENERATED_ORIGIN, allowHttp: true },
        // The demo reports without failing; a host keeps the default, failOn: "high".
        failOn: "none",
      }),
    },
  ],
  async show(db) {
    const rows: Array<{
      package: string;
      version: string;
      advisory: string;
      severity: string;
      fixed_in: string | null;
      dev: unknown;
      paths: string;
    }> = await db("upkeep_audit_findings")
      .where({ status: "open" })
      .select("package", "version", "advisory", "severity", "fixed_in", "dev", "paths")
      .orderBy("package");
    for (const row of rows) {
      const path = (JSON.parse(row.paths) as string[][])[0]?.join(" > ") ?? "";
      console.log(
        `    ${row.severity.padEnd(9)} ${`${row.package}@${row.version}`.padEnd(22)} advisory ${row.advisory}, fixed in ${row.fixed_in ?? "-"}${row.dev ? " (dev)" : ""}: ${path}`,
      );
    }
    console.log(
      `    (${server?.stats.bulkRequests ?? 0} advisory request(s), ${server?.stats.packumentRequests ?? 0} packument request(s))`,
    );
  },
  async close() {
    await server?.close();
  },
};

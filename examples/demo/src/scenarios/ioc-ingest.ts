import { fileURLToPath, pathToFileURL } from "node:url";
import { createMatcher, iocIngestTask } from "@upkeep/core";
import type { DemoScenario } from "../scenario.ts";

const feedFile = fileURLToPath(new URL("../../feeds/sample-blocklist.txt", import.meta.url));

/** ioc-ingest reads a bundled blocklist through file://, then a matcher answers lookups. */
export const iocIngest: DemoScenario = {
  title: "ioc-ingest: a local blocklist into the indicator tables, then matcher lookups",
  async seed() {},
  tasks: () => [
    {
      task: iocIngestTask({
        feeds: [{ name: "sample-blocklist", url: pathToFileURL(feedFile).href, format: "plain", confidence: 80 }],
      }),
    },
  ],
  async show(db) {
    const matcher = await createMatcher({ db, pollInterval: 0 });
    const probes = ["45.155.205.17", "::ffff:185.220.101.4", "2a06:e487::1", "login.PHISH-login.example.org", "10.1.2.3", "93.184.216.34"];
    for (const probe of probes) {
      const hit = matcher.match(probe);
      console.log(
        `  ${probe.padEnd(30)} ${hit ? `listed as ${hit.value} by ${hit.feeds.join(", ")} (confidence ${hit.confidence})` : "not listed"}`,
      );
    }
    matcher.close();
  },
};

import { createMatcher, iocIngestTask, type Matcher, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import express, { type Express } from "express";
import type { Knex } from "knex";
import { blocklist } from "./blocklist.ts";

export interface BlocklistApp {
  app: Express;
  matcher: Matcher;
  close(): Promise<void>;
}

/** Builds the app: ingests the feed once at start, then guards every route with the matcher. */
export async function createApp(db: Knex, feedUrl: string): Promise<BlocklistApp> {
  const upkeep = registerTasks(manualAdapter(), {
    db,
    logger: silentLogger,
    tasks: [iocIngestTask({ feeds: [{ name: "local-blocklist", url: feedUrl, format: "plain" }] })],
  });
  await upkeep.start();
  await upkeep.run("ioc-ingest");
  const matcher = await createMatcher({ db, pollInterval: "30s" });

  const app = express();
  app.set("trust proxy", "loopback");
  app.use(blocklist(matcher));
  app.get("/", (_req, res) => {
    res.json({ hello: "world" });
  });
  return {
    app,
    matcher,
    async close() {
      matcher.close();
      await upkeep.stop();
    },
  };
}

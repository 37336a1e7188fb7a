import { rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import knex from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";

describe("express blocklist example", () => {
  const file = join(tmpdir(), `upkeep-express-${process.pid}.sqlite`);
  const db = knex({ client: "better-sqlite3", connection: { filename: file }, useNullAsDefault: true });
  let server: Server;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const feed = pathToFileURL(new URL("../feeds/blocklist.txt", import.meta.url).pathname).href;
    const built = await createApp(db, feed);
    close = built.close;
    server = built.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await close();
    await db.destroy();
    rmSync(file, { force: true });
  });

  it("answers 403 to a client inside a listed network", async () => {
    const response = await fetch(url, { headers: { "X-Forwarded-For": "45.155.205.9" } });
    expect(response.status).toBe(403);
  });

  it("answers 403 to a listed IPv6 client", async () => {
    const response = await fetch(url, { headers: { "X-Forwarded-For": "2a06:e487::1" } });
    expect(response.status).toBe(403);
  });

  it("serves a client that is not listed", async () => {
    const response = await fetch(url, { headers: { "X-Forwarded-For": "93.184.216.34" } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: "world" });
  });
});

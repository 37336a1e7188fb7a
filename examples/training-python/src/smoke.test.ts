import { listModels, loadModel } from "@upkeep/core";
import knex from "knex";
import { describe, expect, it } from "vitest";
import { host, seed } from "./host.ts";

describe("training-python example", () => {
  it("trains the Python model through commandTrainer and makes it the champion", async () => {
    const db = knex({ client: "better-sqlite3", connection: { filename: ":memory:" }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
    const now = new Date("2026-03-10T01:00:00Z");
    await seed(db, now.getTime());
    const upkeep = host(db, now);
    await upkeep.start();
    const run = await upkeep.run("training");
    expect(run.status).toBe("succeeded");
    const [model] = await listModels(db, "python-threat-model");
    expect(model?.champion).toBe(true);
    expect(model?.metrics.auc).toBeGreaterThan(0.9);
    const loaded = await loadModel(db, "python-threat-model", { refreshEvery: 0 });
    const artifact = JSON.parse(Buffer.from(loaded.artifact.value as Uint8Array).toString()) as { features: string[] };
    expect(artifact.features).toEqual(["requests", "errorShare", "endpoints"]);
    await upkeep.stop();

    // The next run hands the program its champion, which it scores on the same hold-out.
    const again = host(db, new Date(now.getTime() + 60_000));
    expect((await again.run("training")).status).toBe("succeeded");
    const [second] = await listModels(db, "python-threat-model");
    expect(second?.version).toBe(2);
    expect(second?.decision?.champion).toMatchObject({ version: 1, rescored: true });
    expect(second?.decision?.holdout?.rows).toBe(second?.metrics.holdoutRows);
    await again.stop();
    await db.destroy();
  });
});

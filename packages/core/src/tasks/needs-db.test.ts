// Issue 23: a built-in task that works on the host's tables, registered in a configuration without
// `db`, is a ConfigError at registration naming the task, not a run that fails later.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.ts";
import { manualAdapter } from "../manual-adapter.ts";
import { registerTasks } from "../register.ts";
import type { AnyTaskDefinition } from "../task.ts";
import { billingSyncTask } from "./billing-sync/task.ts";
import { cleanupTask } from "./cleanup/task.ts";
import { heartbeatsTask } from "./heartbeats/task.ts";
import { iocIngestTask } from "./ioc-ingest/task.ts";
import { keyRotationTask } from "./key-rotation/task.ts";
import { trainingTask } from "./training/training-task.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

// The options only need to build the definition: registration reports the missing db first.
const tasks: Array<[string, () => AnyTaskDefinition]> = [
  ["cleanup", () => cleanupTask()],
  ["heartbeats", () => heartbeatsTask()],
  ["training", () => trainingTask()],
  ["ioc-ingest", () => iocIngestTask({ feeds: [{ name: "list", url: "https://feeds.example/list.txt", format: "plain" }] } as never)],
  ["key-rotation", () => keyRotationTask({} as never)],
  ["billing-sync", () => billingSyncTask({} as never)],
];

describe("built-in tasks that need the host's database", () => {
  it.each(tasks)("%s registered without db is a ConfigError at tasks.<id>", (id, make) => {
    let error: unknown;
    try {
      registerTasks(manualAdapter(), { tasks: [make()], logger: silent });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`tasks.${id}: the ${id} task needs the host's database: set db in the configuration`);
  });
});

import { describe, expect, it } from "vitest";
import * as z from "zod";
import { ConfigError, TaskError } from "./errors.ts";
import { silentLogger } from "./logger.ts";
import { manualAdapter } from "./manual-adapter.ts";
import { registerTasks } from "./register.ts";
import { memoryStore } from "./store/memory-store.ts";
import { defineTask } from "./task.ts";

describe("task verify hook", () => {
  it("start() throws a ConfigError with the issue paths under tasks.<id>.input and schedules nothing", async () => {
    const seen: unknown[] = [];
    const task = defineTask({
      id: "checked",
      schedule: "* * * * *",
      input: z.object({ table: z.string() }),
      defaultInput: { table: "missing" },
      verify: ({ input }) => {
        seen.push(input);
        return [{ path: "table", message: 'table "missing" does not exist' }];
      },
      run: () => {},
    });
    const adapter = manualAdapter();
    const upkeep = registerTasks(adapter, { tasks: [task], store: memoryStore(), logger: silentLogger });
    const error = await upkeep.start().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([{ path: "tasks.checked.input.table", message: 'table "missing" does not exist' }]);
    expect(seen).toEqual([{ table: "missing" }]);
    expect(adapter.scheduled.size).toBe(0);
  });

  it("start() goes on when verify finds nothing, and skips verify for disabled tasks", async () => {
    let calls = 0;
    const make = (id: string) =>
      defineTask({
        id,
        schedule: "* * * * *",
        verify: () => {
          calls++;
          return [];
        },
        run: () => {},
      });
    const adapter = manualAdapter();
    const upkeep = registerTasks(adapter, {
      tasks: [make("on"), { task: make("off"), enabled: false }],
      store: memoryStore(),
      logger: silentLogger,
    });
    await upkeep.start();
    expect(calls).toBe(1);
    expect([...adapter.scheduled.keys()]).toEqual(["on"]);
    await upkeep.stop();
  });
});

describe("TaskError result", () => {
  it("stores the result a TaskError carries with the failed run", async () => {
    const task = defineTask({
      id: "partial",
      schedule: "* * * * *",
      run: () => {
        throw new TaskError("1 of 2 parts failed", { result: { parts: [{ ok: true }, { ok: false }] } });
      },
    });
    const upkeep = registerTasks(manualAdapter(), { tasks: [task], store: memoryStore(), logger: silentLogger });
    const run = await upkeep.run("partial");
    expect(run.status).toBe("failed");
    expect(run.errorMessage).toBe("[upkeep] 1 of 2 parts failed");
    expect((await upkeep.store.get(run.id))?.result).toEqual({ parts: [{ ok: true }, { ok: false }] });
  });
});

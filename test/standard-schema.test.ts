// A custom task's input may be any Standard Schema validator, not only core's own zod 4: a host on
// zod 3 got TS2740 passing its schema to defineTask (issue 23). Runtime behaviour is checked here;
// the expectTypeOf and @ts-expect-error lines are checked by `pnpm typecheck`.
import { ConfigError, defineTask, manualAdapter, registerTasks, silentLogger, type TaskDefinition } from "@upkeep/core";
import * as v from "valibot";
import { describe, expect, expectTypeOf, it } from "vitest";
import * as z4 from "zod";
import * as z3 from "zod3";

const secret = "sk_live_0123456789abcdef";

function configError(register: () => unknown): ConfigError {
  try {
    register();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

const validators = {
  "zod 3": z3.object({ batchSize: z3.number().int().max(100), target: z3.object({ table: z3.string() }) }),
  "zod 4": z4.object({ batchSize: z4.number().int().max(100), target: z4.object({ table: z4.string() }) }),
  valibot: v.object({ batchSize: v.pipe(v.number(), v.integer(), v.maxValue(100)), target: v.object({ table: v.string() }) }),
};

describe.each(Object.entries(validators))("a task input validated by %s", (_name, schema) => {
  const task = defineTask({
    id: "archive",
    schedule: "0 4 * * *",
    input: schema,
    defaultInput: { batchSize: 10, target: { table: "invoices" } },
    run: (_ctx, input) => ({ batchSize: input.batchSize, table: input.target.table }),
  });

  it("runs with the validated input, and a manual run's override is validated too", async () => {
    const upkeep = registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger });
    const record = await upkeep.run("archive", { input: { batchSize: 20 } });
    expect(record.status).toBe("succeeded");
    expect(record.result).toEqual({ batchSize: 20, table: "invoices" });
    await expect(upkeep.run("archive", { input: { batchSize: 500 } })).rejects.toThrow(/input\.batchSize: /);
    await upkeep.stop();
  });

  it("names each failing field as tasks.<id>.input.<path>, never its value", () => {
    const error = configError(() =>
      registerTasks(manualAdapter(), {
        tasks: [{ task, input: { batchSize: secret, target: { table: secret } } }],
        logger: silentLogger,
      }),
    );
    expect(error.issues.map((issue) => issue.path).sort()).toEqual(["tasks.archive.input.batchSize"]);
    const nested = configError(() =>
      registerTasks(manualAdapter(), { tasks: [{ task, input: { batchSize: 1, target: { table: 42 } } }], logger: silentLogger }),
    );
    expect(nested.issues.map((issue) => issue.path)).toEqual(["tasks.archive.input.target.table"]);
    expect(error.message).toContain("tasks.archive.input.batchSize: ");
    expect(error.message).not.toContain(secret);
    expect(JSON.stringify(error.issues)).not.toContain(secret);
  });
});

describe("Standard Schema inputs", () => {
  it("refuses a validator that answers with a Promise, naming the task's input", async () => {
    let settled = false;
    const task = defineTask({
      id: "async-input",
      schedule: "* * * * *",
      input: z4.object({ table: z4.string() }).refine(async () => {
        settled = true;
        return true;
      }),
      defaultInput: { table: "invoices" },
      run: () => {},
    });
    const error = configError(() => registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger }));
    expect(error.issues).toEqual([{ path: "tasks.async-input.input", message: expect.stringMatching(/asynchronously/) }]);
    await Promise.resolve();
    expect(settled).toBe(true);
  });

  it("refuses an input that is not a Standard Schema at defineTask", () => {
    const error = configError(() =>
      defineTask({ id: "plain", schedule: "* * * * *", input: { parse: () => ({}) } as never, run: () => {} }),
    );
    expect(error.issues).toEqual([{ path: "tasks.plain.input", message: expect.stringMatching(/Standard Schema/) }]);
  });

  it("cuts a quoted value out of a validator's message (Valibot quotes what it received)", () => {
    const task = defineTask({
      id: "quoted",
      schedule: "* * * * *",
      input: v.object({ mode: v.picklist(["a", "b"]) }),
      defaultInput: { mode: secret },
      run: () => {},
    });
    const error = configError(() => registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger }));
    expect(error.issues[0]?.path).toBe("tasks.quoted.input.mode");
    expect(error.issues[0]?.message).toMatch(/<value>/);
    expect(error.message).not.toContain(secret);
  });

  it("infers run's input from the schema's output, whatever the validator", () => {
    const fromZod3 = defineTask({
      id: "zod3-typed",
      schedule: "* * * * *",
      input: z3.object({ days: z3.number().default(30), tag: z3.string().optional() }),
      run: (_ctx, input) => input.days,
    });
    expectTypeOf(fromZod3).toEqualTypeOf<TaskDefinition<{ days: number; tag?: string | undefined }, number>>();
    const fromValibot = defineTask({
      id: "valibot-typed",
      schedule: "* * * * *",
      input: v.object({ names: v.array(v.string()) }),
      run: (_ctx, input) => {
        expectTypeOf(input.names).toEqualTypeOf<string[]>();
      },
    });
    expectTypeOf(fromValibot).toEqualTypeOf<TaskDefinition<{ names: string[] }, void>>();
    defineTask({
      id: "zod3-wrong",
      schedule: "* * * * *",
      input: z3.object({ days: z3.number() }),
      // @ts-expect-error days is a number, not a string
      run: (_ctx, input) => input.days.toUpperCase(),
    });
    expect(fromZod3.id).toBe("zod3-typed");
  });
});

#!/usr/bin/env node
import { main } from "./main.ts";

// Ctrl-C or SIGTERM stops the command: a run in flight is aborted and recorded `interrupted`.
// A second signal exits at once.
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(signal);
  });
}

const code = await main(process.argv.slice(2), { signal: controller.signal });
process.exitCode = code;
// The host's knex is closed by now; if something else in the config keeps the event loop alive
// (a Redis client, a timer), leave anyway once the output is flushed.
setTimeout(() => process.exit(code), 2000).unref();

import type { Upkeep } from "@upkeep/core";
import type { Redis } from "ioredis";
import type { Knex } from "knex";

/** Stops upkeep (closing the worker within the timeout), then the host's own connections. */
export function stopOnSignals(upkeep: Upkeep, db: Knex, connection: Redis, name: string): void {
  const stop = () => {
    upkeep
      .stop({ timeout: 10_000 })
      .then(() => db.destroy())
      .then(() => connection.quit())
      .then(
        () => {
          console.log(`${name} stopped`);
          process.exit(0);
        },
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

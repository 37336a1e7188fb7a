import { migrate } from "@upkeep/core";
import type { Command } from "../command.ts";
import { EXIT } from "../command.ts";
import { json } from "../format.ts";

/** `upkeep migrate`: creates or upgrades upkeep's own tables. */
export const migrateCommand: Command = {
  name: "migrate",
  summary: "Create or upgrade upkeep's tables in the configured database",
  usage: "upkeep migrate [--json]",
  async run(ctx) {
    const { config } = ctx;
    const prefix = config.tablePrefix ?? "upkeep_";
    let applied: string[] | undefined;
    if (config.db && !config.store) {
      // The same migrations the knex store applies, called directly to learn which ones ran.
      applied = await migrate(config.db, prefix);
    } else {
      await ctx.upkeep.migrate();
    }
    const store = ctx.upkeep.store.name;
    if (ctx.json) {
      ctx.stdout(json({ store, tablePrefix: config.db && !config.store ? prefix : null, applied: applied ?? null }));
      return EXIT.ok;
    }
    if (!config.db && !config.store) {
      ctx.stdout("No database in the config (set `db` to your knex instance): run history is kept in memory; nothing to migrate.\n");
    } else if (applied === undefined) {
      ctx.stdout(`The ${store} store is migrated.\n`);
    } else if (applied.length === 0) {
      ctx.stdout(`upkeep's tables (prefix ${prefix}) are up to date.\n`);
    } else {
      ctx.stdout(`Applied ${applied.length} migration(s) with table prefix ${prefix}:\n${applied.map((name) => `  ${name}\n`).join("")}`);
    }
    return EXIT.ok;
  },
};

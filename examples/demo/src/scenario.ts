import type { TaskEntry } from "@upkeep/core";
import type { Knex } from "knex";

/** One part of the demo: sample data, the task entries that work on it, and what to show after. */
export interface DemoScenario {
  title: string;
  /** Creates and fills the sample tables. */
  seed(db: Knex, now: Date): Promise<void>;
  tasks(db: Knex): TaskEntry[];
  /** Prints what changed, in a line or a small table. */
  show?(db: Knex): Promise<void>;
  /** Releases what the scenario started (a local server). */
  close?(): Promise<void>;
}

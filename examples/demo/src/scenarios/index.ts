import type { DemoScenario } from "../scenario.ts";
import { billingSync } from "./billing-sync.ts";
import { customTask } from "./custom-task.ts";
import { iocIngest } from "./ioc-ingest.ts";

/** Every part of the demo, in the order it runs. Each built-in task adds its scenario here. */
export const scenarios: DemoScenario[] = [customTask, billingSync, iocIngest];

import type { DemoScenario } from "../scenario.ts";
import { billingSync } from "./billing-sync.ts";
import { cleanup } from "./cleanup.ts";
import { customTask } from "./custom-task.ts";
import { dependencyAudit } from "./dependency-audit.ts";
import { heartbeats } from "./heartbeats.ts";
import { iocIngest } from "./ioc-ingest.ts";
import { keyRotation } from "./key-rotation.ts";
import { training } from "./training.ts";

/** Every part of the demo, in the order it runs. Each built-in task adds its scenario here. */
export const scenarios: DemoScenario[] = [customTask, cleanup, heartbeats, keyRotation, billingSync, iocIngest, training, dependencyAudit];

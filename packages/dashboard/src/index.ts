/**
 * A dashboard for upkeep: server-rendered pages of tasks, runs and security events, with run now, dry run, pause and resume behind the host's authorize.
 * @module @upkeep/dashboard
 */
export { type Authorize, type AuthorizeTarget, createDashboard, type DashboardHandler, type DashboardOptions } from "./dashboard.ts";
export type { DashboardAction } from "./pages/actions.ts";
export { scheduleInWords } from "./schedule-words.ts";

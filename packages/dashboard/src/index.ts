export { type Authorize, type AuthorizeTarget, createDashboard, type DashboardHandler, type DashboardOptions } from "./dashboard.ts";
export type { DashboardAction } from "./pages/actions.ts";
export { scheduleInWords } from "./schedule-words.ts";

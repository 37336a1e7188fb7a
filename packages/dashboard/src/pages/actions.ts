import type { TaskHealth } from "@upkeep/core";
import { type Html, html } from "../html.ts";
import { actionForm, type PageContext } from "./layout.ts";

/** The actions a dashboard offers on a task. `view` is every read-only page. */
export type DashboardAction = "view" | "run" | "dry-run" | "pause" | "resume";

/** The buttons of the actions allowed on a task (pause or resume, whichever applies). */
export function taskActions(ctx: PageContext, health: TaskHealth, allowed: ReadonlySet<DashboardAction>): Html {
  const id = encodeURIComponent(health.id);
  const buttons: Html[] = [];
  if (allowed.has("run")) buttons.push(actionForm(ctx, `/tasks/${id}/run`, "Run now"));
  if (allowed.has("dry-run")) buttons.push(actionForm(ctx, `/tasks/${id}/dry-run`, "Dry run"));
  if (health.paused && allowed.has("resume")) buttons.push(actionForm(ctx, `/tasks/${id}/resume`, "Resume"));
  if (!health.paused && health.state !== "disabled" && allowed.has("pause")) {
    buttons.push(
      actionForm(
        ctx,
        `/tasks/${id}/pause`,
        "Pause",
        html`<input name="reason" maxlength="500" placeholder="reason" aria-label="pause reason"> `,
      ),
    );
  }
  return buttons.length ? html`<div class="actions">${buttons}</div>` : html``;
}

import { ASSET_VERSION } from "../assets.ts";
import { type Html, html } from "../html.ts";

/** What every page needs to link and post back. */
export interface PageContext {
  /** The mount path, without a trailing slash ("" at the root). */
  base: string;
  /** The CSRF token for this browser's forms; undefined when no action is allowed. */
  csrf: string | undefined;
  now: Date;
}

/** The page around a body: one stylesheet and one script, both from the dashboard itself. */
export function layout(ctx: PageContext, title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${title} · upkeep</title>
<link rel="stylesheet" href="${ctx.base}/assets/dashboard.css?v=${ASSET_VERSION}">
<script src="${ctx.base}/assets/dashboard.js?v=${ASSET_VERSION}" defer></script></head>
<body><header><strong>upkeep</strong><nav><a href="${ctx.base}/">Tasks</a><a href="${ctx.base}/security">Security events</a></nav>
<span class="muted small">${ctx.now.toISOString().replace("T", " ").slice(0, 19)} UTC</span></header>
<main>${body}</main></body></html>`;
}

/** A POST button for an action, with the CSRF token. */
export function actionForm(ctx: PageContext, path: string, label: string, extra: Html = html``): Html {
  return html`<form class="inline" method="post" action="${ctx.base}${path}"><input type="hidden" name="csrf" value="${ctx.csrf ?? ""}">${extra}<button type="submit">${label}</button></form>`;
}

/** A page with only a message, for refusals and errors. */
export function messagePage(ctx: PageContext, title: string, message: string): Html {
  return layout(ctx, title, html`<h1>${title}</h1><p>${message}</p>`);
}

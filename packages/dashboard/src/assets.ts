import { createHash } from "node:crypto";

/** The dashboard's one stylesheet, served from `<basePath>/assets/dashboard.css`. */
export const CSS = `:root{color-scheme:light dark;--fg:#1d2330;--muted:#6b7280;--bg:#fff;--panel:#f6f7f9;--line:#e2e5ea;--ok:#1f9d55;--bad:#d64545;--warn:#d98c00;--run:#2f6fdb;--idle:#9aa3af}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8ec;--muted:#9aa3af;--bg:#14171c;--panel:#1c2027;--line:#2c323c}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;border-bottom:1px solid var(--line);background:var(--panel)}
header strong{font-size:15px}header nav a{margin-right:1rem}a{color:var(--run);text-decoration:none}a:hover{text-decoration:underline}
main{padding:1rem 1.2rem;max-width:1400px}h1{font-size:20px;margin:.2rem 0 1rem}h2{font-size:16px;margin:1.4rem 0 .6rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.muted{color:var(--muted)}.small{font-size:12px}code,pre{font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:var(--panel);border:1px solid var(--line);padding:.7rem;overflow:auto;max-height:32rem;white-space:pre-wrap;word-break:break-word}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:9px;font-size:12px;font-weight:600;color:#fff;background:var(--idle)}
.s-up,.s-succeeded{background:var(--ok)}.s-failing,.s-failed,.s-timed_out,.s-abandoned,.s-missed{background:var(--bad)}
.s-late,.s-interrupted,.s-paused{background:var(--warn)}.s-running{background:var(--run)}
.strip rect{fill:var(--line)}.strip .d-succeeded{fill:var(--ok)}.strip .d-failed,.strip .d-timed_out,.strip .d-abandoned{fill:var(--bad)}
.strip .d-interrupted,.strip .d-skipped{fill:var(--warn)}.strip .d-running{fill:var(--run)}
.spark polyline{fill:none;stroke:var(--run);stroke-width:1.5}.spark .fail{fill:var(--bad)}
.figures{display:flex;flex-wrap:wrap;gap:.2rem .8rem;margin:.3rem 0 0}.figures div{display:flex;gap:.3rem}.figures dt{color:var(--muted)}.figures dd{margin:0;font-weight:600}
form.inline{display:inline}button{font:inherit;font-size:12px;padding:.2rem .6rem;border:1px solid var(--line);border-radius:5px;background:var(--bg);color:var(--fg);cursor:pointer}
button:hover{border-color:var(--run)}.actions{display:flex;gap:.3rem;flex-wrap:wrap}
.filters{display:flex;gap:.8rem;align-items:end;flex-wrap:wrap;margin-bottom:1rem}.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
select,input{font:inherit;padding:.2rem .3rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg)}
.grid{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1.2rem}.grid dt{color:var(--muted)}.grid dd{margin:0}
progress{width:22rem;height:1rem}.notice{padding:.6rem .8rem;border:1px solid var(--line);background:var(--panel);margin-bottom:1rem}
.pager{margin-top:1rem}`;

/**
 * The dashboard's one script, served from `<basePath>/assets/dashboard.js` (the page's CSP allows
 * only scripts from the dashboard itself): follows a running run's progress over server-sent events
 * and reloads the page when the run ends.
 */
export const JS = `"use strict";
for (const el of document.querySelectorAll("[data-live]")) {
  const source = new EventSource(el.getAttribute("data-live"));
  const bar = el.querySelector("progress");
  const text = el.querySelector("[data-progress-text]");
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    if (bar) {
      if (typeof p.total === "number" && p.total > 0) { bar.max = p.total; bar.value = p.done; } else bar.removeAttribute("value");
    }
    if (text) text.textContent = p.done + (typeof p.total === "number" ? " / " + p.total : "") + (p.unit ? " " + p.unit : "") + (p.label ? " (" + p.label + ")" : "");
    el.setAttribute("data-done", String(p.done));
  });
  source.addEventListener("end", () => { source.close(); location.reload(); });
}
`;

/** A short content hash, so a changed asset gets a new URL and can be cached for long. */
export const ASSET_VERSION = createHash("sha256").update(CSS).update(JS).digest("hex").slice(0, 12);

// The links of the manual: every link of README.md and docs/ to a page of the repository (relative,
// or absolute to the repository on GitHub) names a file that exists and, with `#anchor`, a heading
// of that file. The packages' READMEs are what npm shows, where a relative link leads nowhere: they
// link only absolutely, and their links to the repository are checked the same way.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const repository = "https://github.com/upkeep-dev/upkeep/blob/main/";

function markdownUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...markdownUnder(path));
    else if (entry.name.endsWith(".md")) found.push(path);
  }
  return found;
}

const manualPages = ["README.md", ...markdownUnder("docs")];
const packageReadmes = readdirSync(join(root, "packages"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, "packages", entry.name, "README.md")))
  .map((entry) => join("packages", entry.name, "README.md"));

interface Link {
  target: string;
  line: number;
}

/** The links of a page outside its code blocks and inline code: `[text](target)` and `[x]: target`. */
function linksOf(text: string): Link[] {
  const links: Link[] = [];
  let fenced = false;
  text.split("\n").forEach((raw, index) => {
    if (/^\s*```/.test(raw)) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const line = raw.replace(/`[^`]*`/g, "");
    for (const match of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: match[1] as string, line: index + 1 });
    }
    const reference = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(line);
    if (reference) links.push({ target: reference[1] as string, line: index + 1 });
  });
  return links;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors of a markdown file: its headings (repeats numbered as GitHub does) and `id`s. */
function anchorsOf(file: string): Set<string> {
  const cached = anchorCache.get(file);
  if (cached) return cached;
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of readFileSync(join(root, file), "utf8").split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const slug = slugOf(heading[1] as string);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const id of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id[1] as string);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

/** What is wrong with a link to a repository path (relative to the repository's root), if anything. */
function checkTarget(path: string, anchor: string | undefined): string | undefined {
  const file = normalize(path);
  if (file.startsWith("..")) return "points outside the repository";
  if (!existsSync(join(root, file))) return "names no file of the repository";
  if (anchor === undefined || anchor === "") return undefined;
  if (statSync(join(root, file)).isDirectory() || !file.endsWith(".md")) return "has an anchor on a file that is not a page";
  if (!anchorsOf(file).has(decodeURIComponent(anchor))) return `names no heading of ${file}`;
  return undefined;
}

function problemsOf(page: string, allowRelative: boolean): string[] {
  const problems: string[] = [];
  const text = readFileSync(join(root, page), "utf8");
  for (const { target, line } of linksOf(text)) {
    const where = `${page}:${line} ${target}`;
    const [path, anchor] = target.split("#", 2) as [string, string | undefined];
    if (target.startsWith(repository)) {
      const problem = checkTarget(path.slice(repository.length), anchor);
      if (problem) problems.push(`${where}: ${problem}`);
    } else if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      // another site (or mailto:): not checked here
    } else if (!allowRelative) {
      problems.push(`${where}: is relative, and leads nowhere on npm; link ${repository}…`);
    } else {
      const problem = path === "" ? checkTarget(page, anchor) : checkTarget(relative(root, join(root, dirname(page), path)), anchor);
      if (problem) problems.push(`${where}: ${problem}`);
    }
  }
  return problems;
}

describe("the links of the docs", () => {
  it("finds the pages", () => {
    expect(manualPages.length).toBeGreaterThan(10);
    expect(packageReadmes.length).toBeGreaterThanOrEqual(6);
  });

  it.each(manualPages)("%s links to files and headings that exist", (page) => {
    expect(problemsOf(page, true)).toEqual([]);
  });

  it.each(packageReadmes)("%s links only absolutely, to files and headings that exist", (page) => {
    expect(problemsOf(page, false)).toEqual([]);
  });

  it("reports a relative link in a package README, a missing file and a missing heading", () => {
    const text = "See [x](../../docs/cli.md), [y](docs/nope.md) and [z](#not-here).\n```\n[skipped](nope.md)\n```";
    expect(linksOf(text).map((link) => link.target)).toEqual(["../../docs/cli.md", "docs/nope.md", "#not-here"]);
    expect(checkTarget("docs/nope.md", undefined)).toBe("names no file of the repository");
    expect(checkTarget("docs/cli.md", "not-a-heading")).toBe("names no heading of docs/cli.md");
    expect(checkTarget("docs/cli.md", undefined)).toBeUndefined();
    expect(slugOf("`training`: daily retraining on anonymised telemetry")).toBe("training-daily-retraining-on-anonymised-telemetry");
    expect(slugOf("Safety: compare-and-set, per dialect")).toBe("safety-compare-and-set-per-dialect");
  });
});

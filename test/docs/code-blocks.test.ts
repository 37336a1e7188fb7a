// Every TypeScript block of the README, docs/ and the packages' READMEs compiles against the
// packages' published types (their dist .d.ts, as a user's app resolves them, with `nodenext`).
// The blocks of one page are the files of one folder, so a page's `worker.ts` can import its
// `upkeep.config.ts`: a block is named by a `<!-- file: name.ts -->` line right above it, or
// `block-<n>.ts`. What a snippet takes from the host's own app (its knex `db`, an Express `app`, a
// function of its own) is declared in a `<!-- host: ... -->` comment right above the block, hidden
// on the page and put before the block's code; anything of upkeep's must be imported in the block.
// Run after `pnpm build` (CI builds first).
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const scratch = join(root, "test/docs/.blocks");

function pages(): string[] {
  const found = ["README.md"];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".md")) found.push(path);
    }
  };
  walk("docs");
  for (const pkg of readdirSync(join(root, "packages"), { withFileTypes: true })) {
    if (pkg.isDirectory()) found.push(join("packages", pkg.name, "README.md"));
  }
  return found.filter((page) => existsSync(join(root, page)));
}

interface Block {
  page: string;
  file: string;
  /** The page's line of the block's first line of code. */
  line: number;
  /** The hidden host declarations, then the block's code. */
  code: string;
  /** How many lines of `code` are the hidden declarations. */
  hidden: number;
}

/** The TypeScript blocks of a page, each with the file name it is written to and its host declarations. */
function blocksOf(page: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i] as string)) continue;
    const fence = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
    // The comments right above the fence, nearest last.
    let file: string | undefined;
    let host = "";
    for (let at = fence - 1; at >= 0 && (lines[at] as string).trim().endsWith("-->"); at--) {
      let open = at;
      while (open > 0 && !(lines[open] as string).includes("<!--")) open--;
      const comment = lines
        .slice(open, at + 1)
        .join("\n")
        .trim();
      const named = /^<!-- file: ([\w.-]+\.ts) -->$/.exec(comment);
      const declared = /^<!-- host:\s*([\s\S]*?)\s*-->$/.exec(comment);
      if (named) file = named[1];
      else if (declared) host = `${declared[1]}\n`;
      else break;
      at = open;
    }
    const hidden = host === "" ? 0 : host.split("\n").length - 1;
    blocks.push({ page, file: file ?? `block-${blocks.length + 1}.ts`, line: fence + 2, code: `${host}${body.join("\n")}\n`, hidden });
  }
  return blocks;
}

/**
 * Third-party modules the docs use and the repository does not install, declared with the few
 * names the pages use, so the blocks' use of upkeep is still checked (key-rotation's KMS provider).
 */
const ELSEWHERE = `declare module "@aws-sdk/client-kms" {
  interface EncryptInput { KeyId: string; Plaintext: Uint8Array; EncryptionContext?: Record<string, string> }
  interface DecryptInput { KeyId: string; CiphertextBlob: Uint8Array; EncryptionContext?: Record<string, string> }
  export class EncryptCommand { readonly input: EncryptInput; constructor(input: EncryptInput) }
  export class DecryptCommand { readonly input: DecryptInput; constructor(input: DecryptInput) }
  export class KMSClient {
    send(command: EncryptCommand): Promise<{ CiphertextBlob?: Uint8Array }>;
    send(command: DecryptCommand): Promise<{ Plaintext?: Uint8Array }>;
  }
}
`;

const slug = (page: string) => page.replace(/\.md$/, "").replace(/[^\w]+/g, "_");

describe("the docs' TypeScript blocks", { timeout: 180_000 }, () => {
  it("compile against the published types (tsc, nodenext, strict)", async () => {
    rmSync(scratch, { recursive: true, force: true });
    const written = new Map<string, Block>();
    for (const page of pages()) {
      for (const block of blocksOf(page, readFileSync(join(root, page), "utf8"))) {
        const path = join(scratch, slug(page), block.file);
        expect(written.has(path), `${page}:${block.line}: a second block named ${block.file}`).toBe(false);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, block.code);
        written.set(path, block);
      }
    }
    expect(written.size).toBeGreaterThan(20);
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ type: "module", private: true }));
    writeFileSync(join(scratch, "elsewhere.d.ts"), ELSEWHERE);
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          types: ["node"],
        },
        include: ["**/*.ts"],
      }),
    );
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    const output = await promisify(execFile)(process.execPath, [tsc, "-p", scratch, "--pretty", "false"], { cwd: scratch }).then(
      () => "",
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Each error as "<page>:<line in the page>: message".
    const errors = output
      .split("\n")
      .filter((line) => /^[^\s(]+\.ts\(\d+,\d+\): error/.test(line))
      .map((line) => {
        const [, file, row, message] = /^([^\s(]+\.ts)\((\d+),\d+\): (.*)$/.exec(line) as unknown as [string, string, string, string];
        const block = written.get(join(scratch, file));
        if (!block) return `${relative(root, file)}: ${message}`;
        const at = Number(row) - block.hidden;
        return at < 1
          ? `${block.page}:${block.line}: in its host declarations: ${message}`
          : `${block.page}:${block.line + at - 1}: ${message}`;
      });
    expect(errors).toEqual([]);
  });
});

// Regenerates the dashboard screenshots in docs/images/: starts `main.ts --serve` on a free port,
// opens each main page in Debian's chromium (playwright-core, no browser download) and saves it.
//   pnpm --filter @upkeep/example-demo screenshots
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const executablePath = process.env.UPKEEP_CHROMIUM ?? "/usr/bin/chromium";
const out = fileURLToPath(new URL("../../../docs/images/", import.meta.url));
mkdirSync(out, { recursive: true });

const demo = spawn(process.execPath, ["--conditions=dev-source", "--import", "tsx", "src/main.ts", "--serve", "--port", "0"], {
  cwd: fileURLToPath(new URL("..", import.meta.url)),
  stdio: ["ignore", "pipe", "inherit"],
});
const url = await new Promise<string>((resolve, reject) => {
  let text = "";
  demo.stdout.on("data", (chunk: Buffer) => {
    text += chunk.toString();
    const found = /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(text);
    if (found?.[1]) resolve(found[1]);
  });
  demo.once("exit", (code) => reject(new Error(`the demo exited (${code}) before serving`)));
});

const root = typeof process.getuid === "function" && process.getuid() === 0;
const browser = await chromium.launch({ executablePath, args: root ? ["--no-sandbox"] : [], headless: true });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const shoot = async (path: string, file: string) => {
    await page.goto(new URL(path, url).toString());
    await page.screenshot({ path: `${out}${file}`, fullPage: true });
    console.log(`docs/images/${file}`);
  };
  await shoot("", "dashboard-tasks.png");
  await shoot("tasks/heartbeats", "dashboard-runs.png");
  const run = await page.locator("a[href^='/runs/']").first().getAttribute("href");
  if (run) await shoot(run.slice(1), "dashboard-run.png");
  await shoot("security", "dashboard-security.png");
} finally {
  await browser.close();
  demo.kill("SIGTERM");
}

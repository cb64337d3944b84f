/**
 * Test helpers for the browser app (app/): builds it with its Vite config into a temporary
 * folder, serves that folder from a tiny static server on 127.0.0.1 with a strict
 * Content-Security-Policy (no 'unsafe-eval') and the cross-origin isolation headers, and opens
 * pages in headless Chromium (playwright-core, as test/browser/harness.ts does) with WebGPU
 * enabled or disabled. Each page records console problems and long tasks from the start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../browser/harness.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * Strict: scripts only from the page's origin, no 'unsafe-eval' (so no new Function) and no
 * 'wasm-unsafe-eval' (so the CPU backend's generated Wasm is refused too, and its fallbacks run),
 * no inline styles.
 */
export const STRICT_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
].join('; ');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.gz': 'application/octet-stream',
};

export interface AppServer {
  base: string;
  close(): Promise<void>;
}

/** Builds the app (npm run build:web's config) into a temporary folder and serves it. */
export async function buildAndServeApp(csp = STRICT_CSP): Promise<AppServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tangentgrad-app-'));
  await build({ configFile: join(ROOT, 'app/vite.config.ts'), logLevel: 'error', build: { outDir: dir, emptyOutDir: true } });
  const server: Server = createServer((req, res) => {
    let path = resolve(dir, '.' + decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path === dir) path = join(dir, 'index.html');
    if (!path.startsWith(dir + sep)) return void res.writeHead(403).end();
    readFile(path).then(
      (body) => res.writeHead(200, {
        'content-type': MIME[extname(path)] ?? 'application/octet-stream',
        'content-security-policy': csp,
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: async () => {
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Chromium with WebGPU (SwiftShader here) or without it (the flag off and the feature disabled). */
export async function launchChromium(webgpu: boolean): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('chromium not found on PATH: `apt-get install -y chromium` (npm run provision:webgpu does it)');
  const args = webgpu ? CHROMIUM_ARGS : [...CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'), '--disable-features=WebGPU'];
  return chromium.launch({ executablePath, args });
}

export interface AppPage {
  page: Page;
  /** Console errors and warnings, page errors and CSP violations, in order. */
  problems: string[];
  /** Long tasks (> 50 ms) seen by a PerformanceObserver since the page started. */
  longTasks(): Promise<{ start: number; duration: number }[]>;
}

/** Opens the app at `query` in a fresh context (downloads accepted), recording problems. */
export async function openApp(browser: Browser, server: AppServer, query = ''): Promise<AppPage> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`[console.${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`[pageerror] ${e.message}`));
  await page.addInitScript(() => {
    const w = window as unknown as { __longTasks: { start: number; duration: number }[] };
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.goto(`${server.base}${query}`);
  await page.locator('body[data-ready="true"]').waitFor({ timeout: 60_000 });
  return {
    page,
    problems,
    longTasks: () => page.evaluate(() => (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks),
  };
}

/** A long task the page saw during a run: wall time (the long-task entry) and the main thread's CPU time in it (the trace). */
export interface LongTaskCost {
  start: number;
  wallMs: number;
  /** null: no task of the trace matched the entry. */
  cpuMs: number | null;
}

interface TraceEvent {
  name: string;
  cat?: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

/** Trace categories for {@link longTaskCosts}: tasks with thread times, and the page's performance marks. */
export const TRACE_CATEGORIES = ['toplevel', 'blink.user_timing', '__metadata'];

/**
 * Pairs each long-task entry after the page's `tangentgrad-run-start` mark with the renderer
 * main thread's task at the same moment in a Chromium trace, to read how much CPU the task used.
 * A long task's wall time includes the time its thread waited for a core; on a machine whose
 * cores are all busy (the training worker and the software GPU share them) that wait, not the
 * page's work, can make a short task long.
 */
export function longTaskCosts(traceJson: string, entries: { start: number; duration: number }[], runStartedAt: number): LongTaskCost[] {
  const parsed = JSON.parse(traceJson) as { traceEvents: TraceEvent[] } | TraceEvent[];
  const events = Array.isArray(parsed) ? parsed : parsed.traceEvents;
  const mark = events.find((e) => e.name === 'tangentgrad-run-start');
  if (!mark) throw new Error('longTaskCosts: the trace has no tangentgrad-run-start mark');
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain' && e.pid === mark.pid);
  if (!main) throw new Error('longTaskCosts: no renderer main thread in the trace');
  const tasks = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask' && e.dur !== undefined);
  // Trace time (microseconds) of performance.now() = 0 on the page.
  const origin = mark.ts - runStartedAt * 1000;
  return entries.filter((e) => e.start >= runStartedAt).map((e) => {
    // The trace's task that overlaps the entry most (they are the same task, timed by two clocks).
    const from = origin + e.start * 1000;
    const to = from + e.duration * 1000;
    let best: TraceEvent | null = null;
    let bestOverlap = 0;
    for (const t of tasks) {
      const overlap = Math.min(to, t.ts + t.dur!) - Math.max(from, t.ts);
      if (overlap > bestOverlap) [best, bestOverlap] = [t, overlap];
    }
    const matched = best !== null && bestOverlap > 0.5 * e.duration * 1000;
    return { start: e.start, wallMs: e.duration, cpuMs: matched && best!.tdur !== undefined ? best!.tdur / 1000 : null };
  });
}

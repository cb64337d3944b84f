/**
 * Runs TypeScript entry files in a real browser (Debian's Chromium, driven by
 * playwright-core) with WebGPU enabled, and returns what they compute.
 *
 * An entry file default-exports `async (arg) => result`; the result must be
 * JSON-like (it crosses the DevTools protocol). The entry is bundled with
 * esbuild per call, served from a tiny http server on 127.0.0.1 (a secure
 * context, which navigator.gpu requires), and run in a page of one shared
 * browser; closeBrowser() tears everything down.
 *
 * @example
 *   // web/matmul.ts: export default async ({ n }: { n: number }) => { ...; return { maxError }; }
 *   const { maxError } = (await runInBrowser('web/matmul.ts', { n: 256 })) as { maxError: number };
 *   afterAll(closeBrowser);
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type BrowserContext } from 'playwright-core';
import type { Availability } from '../webgpu/gpu-available.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Why each flag: WebGPU is behind a flag on Linux; root needs --no-sandbox; the rest keeps Chromium off the network. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--headless',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** The chromium binary on PATH (`command -v chromium`), or CHROMIUM_PATH if set. */
export function chromiumPath(): string | null {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return null;
}

interface Session {
  context: BrowserContext;
  server: Server;
  base: string;
  dir: string;
}

let session: Promise<Session> | null = null;
let runs = 0;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
};

function serve(dir: string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const path = resolve(dir, '.' + decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!path.startsWith(dir + sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(path).then(
      (body) => res.writeHead(200, { 'content-type': MIME[extname(path)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    // Port 0: the OS picks a free one, so parallel test files never collide.
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      ok({ server, base: `http://127.0.0.1:${port}` });
    });
  });
}

async function start(): Promise<Session> {
  const executablePath = chromiumPath();
  if (!executablePath) {
    throw new Error('chromium not found on PATH: `apt-get install -y chromium` (npm run provision:webgpu does it)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'tangentgrad-browser-'));
  writeFileSync(join(dir, 'blank.html'), '<!doctype html><title>blank</title>');
  const { server, base } = await serve(dir);
  try {
    // A fresh profile per session: no state leaks between runs.
    const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    return { context, server, base, dir };
  } catch (e) {
    server.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function getSession(): Promise<Session> {
  if (!session) {
    session = start();
    session.catch(() => {
      session = null;
    });
  }
  return session;
}

/** Closes the shared browser and server and deletes the temp folder. */
export async function closeBrowser(): Promise<void> {
  const pending = session;
  session = null;
  if (!pending) return;
  let s: Session;
  try {
    s = await pending;
  } catch {
    return;
  }
  await s.context.close();
  await new Promise<void>((ok) => s.server.close(() => ok()));
  rmSync(s.dir, { recursive: true, force: true });
}

/**
 * Whether Chromium here has a WebGPU adapter, with its description.
 * Launch failures count as "not available" so the caller's policy reports them.
 */
export async function probeBrowserGpu(): Promise<Availability> {
  try {
    const { context, base } = await getSession();
    const page = await context.newPage();
    try {
      await page.goto(`${base}/blank.html`);
      const info = await page.evaluate(async () => {
        const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
        if (!gpu) return { ok: false, detail: 'navigator.gpu is undefined (is --enable-unsafe-webgpu set?)' };
        const adapter = await gpu.requestAdapter();
        if (!adapter) return { ok: false, detail: 'navigator.gpu.requestAdapter() returned null' };
        const i = adapter.info;
        return { ok: true, detail: [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') };
      });
      return { available: info.ok, detail: `chromium: ${info.detail}` };
    } finally {
      await page.close();
    }
  } catch (e) {
    return { available: false, detail: `chromium: ${(e as Error).message.split('\n')[0]}` };
  }
}

type PageOutcome = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Bundles `entryFile` (relative to the repo root, or absolute), runs its default
 * export with `arg` in a fresh page, and returns the result. Page errors and
 * console output are included in the thrown error when it fails.
 */
export async function runInBrowser(entryFile: string, arg: unknown = null, timeoutMs = 90_000): Promise<unknown> {
  const { context, base, dir } = await getSession();
  const id = `run-${++runs}`;
  const runDir = join(dir, id);
  mkdirSync(runDir);
  await build({
    entryPoints: [resolve(ROOT, entryFile)],
    outfile: join(runDir, 'entry.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'inline',
    // Dawn's Node addon: loaded only in Node, must never enter a browser bundle.
    external: ['webgpu'],
    logLevel: 'silent',
  });
  // `<` escaped so that no JSON string can close the script element.
  const argJson = JSON.stringify(arg).replace(/</g, '\\u003c');
  writeFileSync(
    join(runDir, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>${id}</title>
<script type="module">
  try {
    const mod = await import('./entry.js');
    window.__tangentgrad = { ok: true, value: await mod.default(${argJson}) };
  } catch (e) {
    window.__tangentgrad = { ok: false, error: String((e && e.stack) || e) };
  }
</script>`,
  );

  const page = await context.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  try {
    await page.goto(`${base}/${id}/index.html`);
    await page.waitForFunction(() => '__tangentgrad' in window, null, { timeout: timeoutMs });
    const outcome = (await page.evaluate(
      () => (window as unknown as { __tangentgrad: PageOutcome }).__tangentgrad,
    )) as PageOutcome;
    if (!outcome.ok) throw new Error(`${entryFile} failed in the browser: ${outcome.error}`);
    return outcome.value;
  } catch (e) {
    const output = log.length ? `\npage output:\n${log.join('\n')}` : '';
    throw new Error(`${(e as Error).message}${output}`);
  } finally {
    await page.close();
  }
}

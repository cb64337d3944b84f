/**
 * A study's report pair: `report.json` and a self-contained `report.html` whose plots are drawn by
 * Plotly (the optional package plotly.js-dist-min, inlined so the page works offline). The pair is
 * written atomically (see {@link writeReport}).
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface PlotSpec {
  title: string;
  /** Plotly traces. */
  data: unknown[];
  layout: Record<string, unknown>;
}

export interface HtmlReport {
  title: string;
  /** Rows of the summary table: [label, value]. */
  summary: [string, string][];
  plots: PlotSpec[];
  notes?: string[];
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** The inlined Plotly bundle's path; one clear line when the optional package is missing. */
export function plotlyPath(): string {
  try {
    return createRequire(import.meta.url).resolve('plotly.js-dist-min');
  } catch (e) {
    throw new Error(`report.html needs the optional package 'plotly.js-dist-min' (npm install plotly.js-dist-min)`, { cause: e });
  }
}

export async function renderHtml(report: HtmlReport): Promise<string> {
  const plotly = await readFile(plotlyPath(), 'utf8');
  const rows = report.summary.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n');
  const divs = report.plots.map((_, i) => `<div id="plot${i}" class="plot"></div>`).join('\n');
  // JSON inside a script: escape "</" so the data can never close the tag.
  const payload = JSON.stringify(report.plots).replace(/<\//g, '<\\/');
  const notes = (report.notes ?? []).map((n) => `<p>${escapeHtml(n)}</p>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(report.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}.plot{width:100%;height:420px;margin-top:1em}</style>
<script>${plotly}</script></head>
<body><h1>${escapeHtml(report.title)}</h1>
<table>${rows}</table>
${notes}
${divs}
<script>
const plots = ${payload};
plots.forEach((p, i) => Plotly.newPlot('plot' + i, p.data, Object.assign({ title: { text: p.title } }, p.layout), { responsive: true }));
</script></body></html>`;
}

/**
 * Writes `<out>/report.json` and `<out>/report.html` (the folder must exist: see cli/out-dir.ts)
 * so that an interrupted run leaves either the old pair or the new pair, never a mix and no
 * temporaries: once the page is rendered, both files are written to temporary names in the same
 * folder and renamed over the old ones in one synchronous stretch (no write is ever in flight
 * when a signal handler runs). A SIGINT/SIGTERM listener is installed throughout: before that
 * stretch it re-raises the signal at once (nothing is written yet); a signal caught during it
 * reaches JavaScript only when the event loop next polls, so the listener is kept until it has
 * polled, holds the signal, and it is re-raised once the pair is in place. (Removing a listener
 * drops a signal caught but not yet dispatched, hence the wait; one arriving in the microseconds
 * between that poll and the removal is lost.) Returns the paths.
 */
export async function writeReport(out: string, json: unknown, html: HtmlReport): Promise<{ json: string; html: string }> {
  const jsonPath = path.join(out, 'report.json');
  const htmlPath = path.join(out, 'report.html');
  const tag = `.tmp-${process.pid}-${Date.now()}`;
  const temps = [jsonPath + tag, htmlPath + tag];
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  let committing = false;
  let held: NodeJS.Signals | null = null;
  const stopListening = () => {
    for (const s of signals) process.off(s, onSignal);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (committing) {
      held ??= sig;
      return;
    }
    stopListening();
    process.kill(process.pid, sig);
  };
  for (const s of signals) process.on(s, onSignal);
  try {
    const page = await renderHtml(html);
    committing = true;
    writeFileSync(temps[0], JSON.stringify(json, null, 2));
    writeFileSync(temps[1], page);
    renameSync(temps[0], jsonPath);
    renameSync(temps[1], htmlPath);
    // From the poll phase (where the render's read completed) a first immediate runs in the same
    // turn's check phase, before any poll; the second runs after one.
    for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  } catch (e) {
    for (const t of temps) rmSync(t, { force: true });
    throw e;
  } finally {
    stopListening();
  }
  if (held !== null) process.kill(process.pid, held);
  return { json: jsonPath, html: htmlPath };
}

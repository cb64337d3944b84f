/**
 * A study's report pair: `report.json` and a self-contained `report.html` whose plots are drawn by
 * Plotly (the optional package plotly.js-dist-min, inlined so the page works offline). The pair is
 * written atomically (see {@link writeReport}).
 */
import { renameSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
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

function escapeHtml(s: string): string {
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
 * so that an interrupted run leaves either the old pair or the new pair, never a mix: both go to
 * temporary names in the same folder first, then two synchronous renames replace the old files
 * while SIGINT/SIGTERM are held back (a signal handler cannot run between two synchronous calls;
 * a held signal is re-raised once both are in place). Returns the paths.
 */
export async function writeReport(out: string, json: unknown, html: HtmlReport): Promise<{ json: string; html: string }> {
  const jsonPath = path.join(out, 'report.json');
  const htmlPath = path.join(out, 'report.html');
  const tag = `.tmp-${process.pid}-${Date.now()}`;
  const temps = [jsonPath + tag, htmlPath + tag];
  const held: NodeJS.Signals[] = [];
  const hold = (sig: NodeJS.Signals) => held.push(sig);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  // Until the renames, an interrupt only has to drop the temporaries: the old pair is untouched.
  const dropTemps = (sig: NodeJS.Signals) => {
    for (const t of temps) rmSync(t, { force: true });
    for (const s of signals) process.off(s, dropTemps);
    process.kill(process.pid, sig);
  };
  for (const s of signals) process.on(s, dropTemps);
  try {
    const page = await renderHtml(html);
    await writeFile(temps[0], JSON.stringify(json, null, 2));
    await writeFile(temps[1], page);
    for (const s of signals) {
      process.off(s, dropTemps);
      process.on(s, hold);
    }
    renameSync(temps[0], jsonPath);
    renameSync(temps[1], htmlPath);
  } catch (e) {
    for (const t of temps) rmSync(t, { force: true });
    throw e;
  } finally {
    for (const s of signals) {
      process.off(s, dropTemps);
      process.off(s, hold);
    }
  }
  if (held.length > 0) process.kill(process.pid, held[0]);
  return { json: jsonPath, html: htmlPath };
}

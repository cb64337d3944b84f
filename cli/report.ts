/**
 * Writes a study's report.json and a self-contained report.html whose plots are drawn by
 * Plotly (plotly.js-dist-min, inlined so the page works offline).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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

export async function renderHtml(report: HtmlReport): Promise<string> {
  const require = createRequire(import.meta.url);
  const plotly = await readFile(require.resolve('plotly.js-dist-min'), 'utf8');
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

/** Writes `<out>/report.json` and `<out>/report.html`; returns their paths. */
export async function writeReport(out: string, json: unknown, html: HtmlReport): Promise<{ json: string; html: string }> {
  await mkdir(out, { recursive: true });
  const jsonPath = path.join(out, 'report.json');
  const htmlPath = path.join(out, 'report.html');
  await writeFile(jsonPath, JSON.stringify(json, null, 2));
  await writeFile(htmlPath, await renderHtml(html));
  return { json: jsonPath, html: htmlPath };
}

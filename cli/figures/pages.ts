/**
 * The suite's output folder: one JSON per finished figure (figures/<id>.json, what a resumed run
 * reuses), report.json with every number, and an HTML report: index.html (the figures, their
 * times and the whole claim table) and one page per figure (figure-<id>.html) whose plots are
 * drawn by one shared copy of Plotly (plotly.min.js, from the optional package
 * plotly.js-dist-min) so the folder works offline. Every file is written to a temporary name and
 * renamed, so an interrupted run never leaves a half-written file.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { escapeHtml, plotlyPath } from '../report.ts';
import { formatInterval, formatValue, type Claim } from './claims.ts';
import type { FigureId, FigureResult } from './types.ts';

export interface SuiteMeta {
  scale: string;
  seeds: number;
  backend: string;
  /** ISO time the report was written. */
  written: string;
  /** Seconds per figure (resumed figures keep the time of the run that computed them). */
  seconds: Record<string, number>;
  /** CPU seconds per figure (all threads): on a shared machine, closer to the cost than the wall time. */
  cpuSeconds: Record<string, number>;
  /** Figures taken from an earlier run. */
  resumed: string[];
}

export interface SuiteReport {
  meta: SuiteMeta;
  claims: Claim[];
  figures: FigureResult[];
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

const resultPath = (out: string, id: FigureId) => path.join(out, 'figures', `${id}.json`);

/** Saves a finished figure for resume. */
export function saveFigure(out: string, result: FigureResult): void {
  mkdirSync(path.join(out, 'figures'), { recursive: true });
  writeAtomic(resultPath(out, result.id), JSON.stringify(result));
}

/** A figure finished by an earlier run with the same setup, or null. */
export function loadFigure(out: string, id: FigureId, config: unknown): FigureResult | null {
  const file = resultPath(out, id);
  if (!existsSync(file)) return null;
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as FigureResult;
    return JSON.stringify(saved.config) === JSON.stringify(config) && saved.id === id ? saved : null;
  } catch {
    return null; // a damaged file is recomputed
  }
}

export const pageName = (id: FigureId) => `figure-${id}.html`;

const VERDICT_COLORS: Record<string, string> = { agrees: '#d9f2d9', holds: '#d9f2d9', roughly: '#fff3c4', disagrees: '#f8d0d0', fails: '#f8d0d0', inconclusive: '#eeeeee', measured: '#e8eef8' };

/** The claim table; each cell is the formatted value of the Claim object (tested against report.json). */
export function claimTable(claims: readonly Claim[], withFigure: boolean): string {
  const head = `<tr>${withFigure ? '<th>figure</th>' : ''}<th>claim</th><th>paper</th><th>measured</th><th>95% interval</th><th>verdict</th></tr>`;
  const rows = claims.map((c) => {
    const cells = [
      ...(withFigure ? [`<a href="${pageName(c.figure as FigureId)}">${escapeHtml(c.figure)}</a>`] : []),
      escapeHtml(c.claim), escapeHtml(c.paper), escapeHtml(formatValue(c.measured)), escapeHtml(formatInterval(c.interval)),
      `<span title="${escapeHtml(c.words)}">${escapeHtml(c.verdict)}</span>`,
    ];
    return `<tr class="claim" style="background:${VERDICT_COLORS[c.verdict]}">${cells.map((x) => `<td>${x}</td>`).join('')}</tr>`;
  });
  return `<table class="claims">${head}\n${rows.join('\n')}</table>`;
}

const STYLE = `<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.plot{width:100%;height:440px;margin-top:1em}</style>`;

function page(title: string, body: string, plots = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>${STYLE}${plots ? '<script src="plotly.min.js"></script>' : ''}</head>
<body>${body}${plots}</body></html>
`;
}

export function figurePage(r: FigureResult, resumed: boolean): string {
  const summary = r.summary.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n');
  const notes = r.notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('\n');
  const words = r.claims.map((c) => `<li>${escapeHtml(c.claim)}: ${escapeHtml(c.words)}</li>`).join('\n');
  const divs = r.plots.map((_, i) => `<div id="plot${i}" class="plot"></div>`).join('\n');
  // JSON inside a script: escape "</" so the data can never close the tag.
  const payload = JSON.stringify(r.plots).replace(/<\//g, '<\\/');
  const script = `${divs}
<script>
const plots = ${payload};
plots.forEach((p, i) => Plotly.newPlot('plot' + i, p.data, Object.assign({ title: { text: p.title } }, p.layout), { responsive: true }));
</script>`;
  const body = `<p><a href="index.html">index</a></p><h1>${escapeHtml(r.title)}</h1>
<p>time: ${r.seconds.toFixed(1)} s (CPU ${r.cpuSeconds.toFixed(1)} s)${resumed ? ' (computed by an earlier run, resumed)' : ''}</p>
${claimTable(r.claims, false)}
<ul>${words}</ul>
<table>${summary}</table>
${notes}`;
  return page(r.title, body, script);
}

export function indexPage(report: SuiteReport): string {
  const m = report.meta;
  const rows = report.figures.map((f) => {
    const counts = new Map<string, number>();
    for (const c of f.claims) counts.set(c.verdict, (counts.get(c.verdict) ?? 0) + 1);
    const verdicts = [...counts].map(([v, k]) => `${k} ${v}`).join(', ');
    return `<tr><td><a href="${pageName(f.id)}">${escapeHtml(f.title)}</a></td><td>${f.seconds.toFixed(1)} s (CPU ${f.cpuSeconds.toFixed(1)} s)${m.resumed.includes(f.id) ? ' (resumed)' : ''}</td><td>${escapeHtml(verdicts)}</td></tr>`;
  });
  const total = Object.values(m.seconds).reduce((a, b) => a + b, 0);
  const body = `<h1>Lee et al. 2019, the figure suite</h1>
<p>scale ${escapeHtml(m.scale)}, ${m.seeds} seeds, backend ${escapeHtml(m.backend)}, written ${escapeHtml(m.written)}; figures' time ${total.toFixed(1)} s (CPU ${Object.values(m.cpuSeconds).reduce((a, b) => a + b, 0).toFixed(1)} s). Every number is in <a href="report.json">report.json</a>.</p>
<table><tr><th>figure</th><th>time</th><th>claims</th></tr>
${rows.join('\n')}</table>
<h2>Claims</h2>
${claimTable(report.claims, true)}`;
  return page('Lee et al. 2019: the figure suite', body);
}

/** Writes report.json, index.html, the figure pages and plotly.min.js into `out`; returns the index path. */
export function writeSuite(out: string, report: SuiteReport): string {
  const plotly = path.join(out, 'plotly.min.js');
  if (!existsSync(plotly)) {
    copyFileSync(plotlyPath(), `${plotly}.tmp-${process.pid}`);
    renameSync(`${plotly}.tmp-${process.pid}`, plotly);
  }
  for (const f of report.figures) writeAtomic(path.join(out, pageName(f.id)), figurePage(f, report.meta.resumed.includes(f.id)));
  writeAtomic(path.join(out, 'report.json'), JSON.stringify(report, null, 1));
  const index = path.join(out, 'index.html');
  writeAtomic(index, indexPage(report));
  return index;
}

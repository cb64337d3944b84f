/**
 * The figure suite end to end at the tiny scale: every figure's pipeline runs, report.json holds
 * every figure with finite numbers, the HTML claim tables are exactly report.json's claims, and a
 * second run in the same folder resumes instead of recomputing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { figuresOptions } from '../../cli/figures-command.ts';
import { formatInterval, formatValue } from '../../cli/figures/claims.ts';
import { pageName, type SuiteReport } from '../../cli/figures/pages.ts';
import { runSuite } from '../../cli/figures/run.ts';
import { FIGURE_IDS } from '../../cli/figures/types.ts';
import { silentProgress } from '../../cli/progress.ts';

const dataDir = fileURLToPath(new URL('../fixtures/cifar10', import.meta.url));
const out = mkdtempSync(path.join(tmpdir(), 'tg-figures-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The rows of the claim table(s) in a page: the text of each cell, tags stripped, entities decoded. */
function tableRows(html: string): string[][] {
  const decode = (s: string) => s.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return [...html.matchAll(/<tr class="claim"[^>]*>(.*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<td>(.*?)<\/td>/g)].map((c) => decode(c[1])));
}

const finite = (v: unknown): boolean => (typeof v === 'number' ? !Number.isNaN(v) : Array.isArray(v) ? v.every(finite) : v !== null && typeof v === 'object' ? Object.values(v).every(finite) : true);

describe('figures suite (tiny scale)', () => {
  let first: SuiteReport;

  it('runs every figure and writes report.json, the index and one page per figure', async () => {
    const logs: string[] = [];
    first = await runSuite({ only: [...FIGURE_IDS], scale: 'tiny', seeds: 2, dataDir, out, backend: 'cpu', progress: silentProgress, log: (s) => logs.push(s) });
    expect(first.figures.map((f) => f.id)).toEqual([...FIGURE_IDS]);
    const json = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as SuiteReport;
    expect(json.figures.map((f) => f.id)).toEqual([...FIGURE_IDS]);
    for (const f of json.figures) {
      expect(f.claims.length, f.id).toBeGreaterThan(0);
      expect(f.plots.length, f.id).toBeGreaterThan(0);
      expect(f.seconds, f.id).toBeGreaterThan(0);
      expect(finite(f.data), `${f.id}: a NaN in its data`).toBe(true);
      expect(existsSync(path.join(out, 'figures', `${f.id}.json`))).toBe(true);
      const page = readFileSync(path.join(out, pageName(f.id)), 'utf8');
      expect(page).toContain('<script src="plotly.min.js"></script>');
      expect(page.match(/<div id="plot\d+"/g)).toHaveLength(f.plots.length);
    }
    expect(existsSync(path.join(out, 'plotly.min.js'))).toBe(true);
    expect(json.meta).toMatchObject({ scale: 'tiny', seeds: 2, backend: 'cpu', resumed: [] });
    expect(Object.keys(json.meta.cpuSeconds).sort()).toEqual([...FIGURE_IDS].sort());
    expect(Object.keys(json.meta.seconds).sort()).toEqual([...FIGURE_IDS].sort());
    // Every figure announced itself and its time.
    for (const f of first.figures) expect(logs.some((l) => l.includes(f.title) && / s \(CPU [\d.]+ s\)$/.test(l))).toBe(true);
    // Figure-specific content: Figure 3's RMSE panel holds two different curves (empirical vs analytic Theta).
    const fig3 = json.figures.find((f) => f.id === '3')!;
    const report0 = (fig3.data as { reports: { rmseNetworkVsLinearized: { closedForm: number[]; analytic: number[] } }[] }).reports[0];
    expect(report0.rmseNetworkVsLinearized.analytic).toHaveLength(report0.rmseNetworkVsLinearized.closedForm.length);
    expect(report0.rmseNetworkVsLinearized.analytic.at(-1)).not.toBe(report0.rmseNetworkVsLinearized.closedForm.at(-1));
    expect(json.figures.find((f) => f.id === 'S5')!.claims.map((c) => c.claim).join('\n')).toMatch(/lower half[\s\S]*upper half[\s\S]*erf/);
  });

  it('the HTML claim tables are report.json claims, cell for cell', () => {
    const json = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as SuiteReport;
    const expected = (withFigure: boolean) => (c: SuiteReport['claims'][number]) =>
      [...(withFigure ? [c.figure] : []), c.claim, c.paper, formatValue(c.measured), formatInterval(c.interval), c.verdict];
    expect(tableRows(readFileSync(path.join(out, 'index.html'), 'utf8'))).toEqual(json.claims.map(expected(true)));
    expect(json.claims).toEqual(json.figures.flatMap((f) => f.claims));
    for (const f of json.figures) expect(tableRows(readFileSync(path.join(out, pageName(f.id)), 'utf8'))).toEqual(f.claims.map(expected(false)));
  });

  it('a second run with the same setup resumes every figure; a changed setup recomputes', async () => {
    const again = await runSuite({ only: [...FIGURE_IDS], scale: 'tiny', seeds: 2, dataDir, out, backend: 'cpu', progress: silentProgress, log: () => {} });
    expect(again.meta.resumed).toEqual([...FIGURE_IDS]);
    expect(again.claims).toEqual(first.claims);
    const other = await runSuite({ only: ['S9'], scale: 'tiny', seeds: 3, dataDir, out, backend: 'cpu', progress: silentProgress, log: () => {} });
    expect(other.meta.resumed).toEqual([]);
    expect((other.figures[0].data as { nngp: number[][] }).nngp).toHaveLength(3);
    // A damaged result (an interrupted write from another tool, a hand edit) is recomputed, not trusted.
    writeFileSync(path.join(out, 'figures', 'S9.json'), '{"id": "S9", "config": ');
    const repaired = await runSuite({ only: ['S9'], scale: 'tiny', seeds: 3, dataDir, out, backend: 'cpu', progress: silentProgress, log: () => {} });
    expect(repaired.meta.resumed).toEqual([]);
    expect(JSON.parse(readFileSync(path.join(out, 'figures', 'S9.json'), 'utf8')).id).toBe('S9');
  });

  it('runs as a command: the claim table on stdout, progress and figure times on stderr', () => {
    const dir = path.join(out, 'cli');
    const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'figures', '--scale', 'tiny', '--only', 'S9,1', '--backend', 'cpu', '--out', dir], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\| figure \| claim \| paper \| measured \| 95% interval \| verdict \|\n\| --- \|/);
    expect(r.stdout.match(/^\| (1|S9) \|/gm)).toHaveLength(6);
    expect(r.stdout).toContain(`wrote ${dir}/index.html`);
    expect(r.stderr).toMatch(/\[1\/2\] Figure 1: relative weight change vs width: [\d.]+ s \(CPU [\d.]+ s\)/);
    expect(existsSync(path.join(dir, 'report.json'))).toBe(true);
  });
});

describe('figures flags', () => {
  const base = { only: '1,2,3,S2,S3,S5,S9', scale: 'small', backend: 'auto', 'data-dir': dataDir, out: 'out/figures' };
  it('parses --only in any case and order into the paper order, --seeds defaulting per scale', () => {
    expect(figuresOptions({ ...base, only: 's9, 1,S2' })).toMatchObject({ only: ['1', 'S2', 'S9'], seeds: 3, scale: 'small' });
    expect(figuresOptions({ ...base, scale: 'paper', seeds: '7' })).toMatchObject({ seeds: 7, scale: 'paper' });
  });
  it('names the bad flag value', () => {
    expect(() => figuresOptions({ ...base, only: '1,S4' })).toThrow("--only: unknown figure 'S4' (figures: 1, 2, 3, S2, S3, S5, S9)");
    expect(() => figuresOptions({ ...base, only: ',' })).toThrow(/--only must name at least one figure/);
    expect(() => figuresOptions({ ...base, scale: 'huge' })).toThrow("--scale must be one of tiny, small, paper, got 'huge'");
    expect(() => figuresOptions({ ...base, seeds: '0' })).toThrow(/--seeds must be an integer in \[1, 100\], got '0'/);
  });
  it('refuses a missing CIFAR folder only when a selected figure reads it', () => {
    expect(() => figuresOptions({ ...base, 'data-dir': '/nonexistent/cifar' })).toThrow(/--data-dir '\/nonexistent\/cifar' does not exist \(figures 3, S2, S5 read CIFAR-10\)/);
    expect(figuresOptions({ ...base, only: '1,S9', 'data-dir': '/nonexistent/cifar' }).only).toEqual(['1', 'S9']);
  });
});

/**
 * The bench harness: timing (warm-up, repeats, median), result checking, and the two output
 * forms. With --json every case prints one line per peer with exactly the keys of `Row` and
 * nothing else goes to stdout (progress, notes and failures go to stderr); without it a table.
 *
 * Why medians of a few runs: the machines are 2 shared cores, so single timings swing by 2x;
 * ours and the peers are measured in the same process, one after the other, and reported as
 * ratios, which cancels most of the machine's mood.
 */

import { cpuInfo } from '../kernels/cpu/config.ts';

export interface BenchOptions {
  json: boolean;
  quick: boolean;
  /** Our backends to run (peers are measured once per case and paired with each). */
  backends: string[];
  /** Run only the cases whose name contains this (e.g. 'matmul', 'mlp784'). */
  only?: string;
  /** Threads for our CPU backend (default: the cores present). */
  threads?: number;
}

export function selected(opts: BenchOptions, caseName: string): boolean {
  return opts.only === undefined || caseName.includes(opts.only);
}

/** One output line. A null time means not measured or excluded (wrong answer, missing kernel): see stderr. */
export interface Row {
  case: string;
  size: string;
  backend: string;
  /** Threads our backend ran on (the CPU backend's pool; 1 for a single-threaded run), null where it does not apply. */
  threads: number | null;
  ours_ms: number | null;
  peer: string;
  peer_ms: number | null;
  /** peer_ms / ours_ms: above 1 means ours is faster. */
  ratio: number | null;
}

/** Table-only extras: work per run (for GFLOP/s) and a short note. */
export interface Extra {
  gflop?: number;
  note?: string;
}

export function log(...parts: unknown[]): void {
  process.stderr.write(parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ') + '\n');
}

export interface MeasureOptions {
  warmup: number;
  repeats: number;
  /** Stop repeating once this much time went into the repeats (at least one sample is always taken). */
  budgetMs: number;
  /** A warm-up run slower than this is kept as a sample: JIT warm-up is noise next to it. */
  slowMs: number;
}

export interface Timing {
  median: number;
  min: number;
  samples: number[];
}

export function measureDefaults(opts: BenchOptions, over: Partial<MeasureOptions> = {}): MeasureOptions {
  const base: MeasureOptions = opts.quick
    ? { warmup: 1, repeats: 3, budgetMs: 4_000, slowMs: 1_500 }
    : { warmup: 2, repeats: 7, budgetMs: 12_000, slowMs: 3_000 };
  return { ...base, ...over };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times `fn` (awaited) after warm-up; returns the median and the samples. `firstMs` is the time of
 * a call already made (the checked one): when slower than `slowMs` it counts as a sample and
 * replaces the warm-up, so a peer that takes many seconds is not run more than needed.
 */
export async function measure(fn: () => unknown, m: MeasureOptions, firstMs?: number): Promise<Timing> {
  const samples: number[] = [];
  const warm = firstMs !== undefined && firstMs > m.slowMs;
  if (warm) samples.push(firstMs);
  for (let i = 0; i < (warm ? 0 : m.warmup); i++) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    if (dt > m.slowMs) {
      samples.push(dt);
      break;
    }
  }
  let spent = samples.reduce((a, b) => a + b, 0);
  while (samples.length < m.repeats && (samples.length === 0 || spent < m.budgetMs)) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    samples.push(dt);
    spent += dt;
  }
  return { median: median(samples), min: Math.min(...samples), samples };
}

/** One contender of an interleaved measurement. */
export interface Contender {
  name: string;
  call: () => unknown;
  m: MeasureOptions;
  /** Time of a call already made (the checked one); see `measure`. */
  firstMs?: number;
}

/**
 * Times several contenders round-robin: warm-up each, then one call of each per round until
 * each has its repeats (or spent its budget). On a shared machine the load drifts over seconds;
 * interleaving puts ours and the peers under the same drift, so their ratio is steadier than
 * when each is timed in its own block.
 */
export async function measureInterleaved(contenders: readonly Contender[]): Promise<Map<string, Timing>> {
  const state = contenders.map((c) => ({ c, samples: [] as number[], spent: 0 }));
  for (const s of state) {
    if (s.c.firstMs !== undefined && s.c.firstMs > s.c.m.slowMs) {
      s.samples.push(s.c.firstMs);
      s.spent += s.c.firstMs;
      continue;
    }
    for (let i = 0; i < s.c.m.warmup; i++) {
      const t0 = performance.now();
      await s.c.call();
      const dt = performance.now() - t0;
      if (dt > s.c.m.slowMs) {
        s.samples.push(dt);
        s.spent += dt;
        break;
      }
    }
  }
  const wants = (s: (typeof state)[number]) => s.samples.length < s.c.m.repeats && (s.samples.length === 0 || s.spent < s.c.m.budgetMs);
  while (state.some(wants)) {
    for (const s of state) {
      if (!wants(s)) continue;
      const t0 = performance.now();
      await s.c.call();
      const dt = performance.now() - t0;
      s.samples.push(dt);
      s.spent += dt;
    }
  }
  return new Map(state.map((s) => [s.c.name, { median: median(s.samples), min: Math.min(...s.samples), samples: s.samples }]));
}

export interface CheckResult {
  ok: boolean;
  /** max |got - ref| / max |ref| */
  relErr: number;
}

/**
 * Compares values with a reference: the largest absolute difference relative to the largest
 * reference magnitude (so tiny entries of a large result are not held to a relative bound).
 * NaN anywhere fails.
 */
export function compare(got: ArrayLike<number>, ref: ArrayLike<number>, tol: number): CheckResult {
  if (got.length !== ref.length) return { ok: false, relErr: Infinity };
  let scale = 0;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= err)) err = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  const relErr = err / (scale || 1);
  return { ok: relErr <= tol, relErr };
}

/** Deterministic normal samples (mulberry32 + Box-Muller), shared by ours and every peer. */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const th = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(th) * scale;
    if (i + 1 < n) out[i + 1] = r * Math.sin(th) * scale;
  }
  return out;
}

/** A peer's name, its median time (null: not measured or wrong) and an optional table note. */
export type PeerResult = [peer: string, ms: number | null, note?: string];

interface Entry {
  row: Row;
  extra: Extra;
}

const round = (x: number | null, digits: number) => (x === null ? null : Number(x.toFixed(digits)));

/** Collects rows; in JSON mode prints each at once (so a long suite streams its results). */
export class Report {
  private readonly entries: Entry[] = [];
  failures = 0;

  constructor(private readonly opts: BenchOptions) {}

  /**
   * Adds one row per peer for a case: each peer has its median time, or null when it was not
   * measured or its answer was wrong (say why on stderr), and optionally a note for the table.
   */
  add(base: Omit<Row, 'ours_ms' | 'peer' | 'peer_ms' | 'ratio' | 'threads'> & { threads?: number | null }, ours: number | null, peers: PeerResult[], extra: Extra = {}): void {
    for (const [peer, peerMs, note] of peers) {
      const row: Row = {
        case: base.case,
        size: base.size,
        backend: base.backend,
        threads: base.threads !== undefined ? base.threads : base.backend === 'cpu' ? cpuInfo().activeThreads : null,
        ours_ms: round(ours, 2),
        peer,
        peer_ms: round(peerMs, 2),
        ratio: ours !== null && peerMs !== null && ours > 0 ? round(peerMs / ours, 3) : null,
      };
      this.entries.push({ row, extra: note === undefined ? extra : { ...extra, note } });
      if (this.opts.json) process.stdout.write(JSON.stringify(row) + '\n');
    }
  }

  fail(what: string): void {
    this.failures++;
    log(`FAIL: ${what}`);
  }

  /** The readable table (no-op in JSON mode). */
  printTable(title: string): void {
    if (this.opts.json || this.entries.length === 0) return;
    const header = ['case', 'size', 'backend', 'threads', 'ours ms', 'GFLOP/s', 'peer', 'peer ms', 'peer GFLOP/s', 'peer/ours', 'note'];
    const fmt = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
    const rate = (ms: number | null) => (extra: Extra) => (extra.gflop !== undefined && ms ? (extra.gflop / (ms / 1000)).toFixed(2) : '');
    const lines = this.entries.map(({ row, extra }) => [
      row.case, row.size, row.backend, row.threads === null ? '' : String(row.threads), fmt(row.ours_ms), rate(row.ours_ms)(extra),
      row.peer, fmt(row.peer_ms), rate(row.peer_ms)(extra), row.ratio === null ? '-' : `${row.ratio.toFixed(2)}x`, extra.note ?? '',
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const out = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
    console.log(`\n${title}\n`);
    console.log(out(header));
    console.log('| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |');
    for (const l of lines) console.log(out(l));
  }
}

/** One bench suite: runs its cases for every requested backend and fills the report. */
export interface Suite {
  name: string;
  description: string;
  run(opts: BenchOptions, report: Report): Promise<void>;
}

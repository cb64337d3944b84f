/**
 * Progress of the CLI's long phases on stderr (stdout stays the summary table). On a terminal a
 * bar redrawn in place; anywhere else (a log file, CI) one line every few seconds with the phase,
 * done/total, rate and ETA, and a last line when the phase ends, so a long run in a log is never
 * silent.
 */

export interface Progress {
  /** Begins a phase of `total` units (steps, kernels, bytes...). */
  start(phase: string, total: number, unit?: string): void;
  update(done: number, detail?: string): void;
  /** Ends the phase (prints its final state). */
  stop(): void;
}

export interface ProgressOptions {
  /** Where to draw. Default process.stderr. */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Default: the stream's isTTY. */
  tty?: boolean;
  /** Seconds between lines when not a terminal. Default 5. */
  intervalSeconds?: number;
  /** Clock in milliseconds (tests inject one). Default performance.now. */
  now?: () => number;
}

export const silentProgress: Progress = { start() {}, update() {}, stop() {} };

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - 60 * m);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function amount(v: number, unit: string): string {
  if (unit === 'B') return v >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(1)} MiB` : `${(v / 1024).toFixed(1)} KiB`;
  return `${Math.round(v)}${unit ? ` ${unit}` : ''}`;
}

/**
 * The reporter. `enabled: false` gives one that prints nothing.
 *
 * @example
 * const p = progressReporter(); p.start('training', 300, 'steps'); p.update(10, 'loss 0.3'); p.stop();
 */
export function progressReporter(enabled = true, options: ProgressOptions = {}): Progress {
  if (!enabled) return silentProgress;
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const interval = (options.intervalSeconds ?? 5) * 1000;
  const now = options.now ?? (() => performance.now());
  let phase = '';
  let total = 0;
  let unit = '';
  let done = 0;
  let detail = '';
  let started = 0;
  let lastDraw = -Infinity;
  let running = false;

  const summary = (): string => {
    const elapsed = (now() - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const pct = total > 0 ? ((100 * done) / total).toFixed(0).padStart(3) : '  ?';
    const rateText = unit === 'B' ? `${amount(rate, 'B')}/s` : `${rate.toPrecision(3)} ${unit || 'it'}/s`;
    const tail = done >= total ? `${duration(elapsed)} elapsed` : `${rateText}, ETA ${duration(eta)}`;
    // Counts read "2/5 kernels"; byte amounts carry their own units ("1.0 MiB/2.0 MiB").
    const counts = unit === 'B' ? `${amount(done, unit)}/${amount(total, unit)}` : `${Math.round(done)}/${amount(total, unit)}`;
    return `${pct}% ${counts} (${tail})${detail ? `  ${detail}` : ''}`;
  };
  const draw = (final: boolean): void => {
    if (tty) {
      const width = 30;
      const filled = total > 0 ? Math.min(width, Math.round((width * done) / total)) : 0;
      const line = `${phase.padEnd(12)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${summary()}`;
      const columns = stream.columns ?? 120;
      stream.write(`\r${line.slice(0, columns - 1)}\x1b[K${final ? '\n' : ''}`);
    } else {
      stream.write(`${phase}: ${summary()}\n`);
    }
  };
  return {
    start(p, t, u = '') {
      if (running) this.stop();
      phase = p;
      total = t;
      unit = u;
      done = 0;
      detail = '';
      started = now();
      // A log gets its first line after one interval; a terminal sees the empty bar at once.
      lastDraw = tty ? -Infinity : started;
      running = true;
      if (tty) draw(false);
    },
    update(d, det) {
      if (!running) return;
      done = d;
      if (det !== undefined) detail = det;
      const t = now();
      if (t - lastDraw >= (tty ? 100 : interval)) {
        lastDraw = t;
        draw(false);
      }
    },
    stop() {
      if (!running) return;
      running = false;
      draw(true);
    },
  };
}

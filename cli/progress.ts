/** A progress bar on stderr (cli-progress), so stdout stays the summary table. */
import cliProgress from 'cli-progress';

export interface Progress {
  start(phase: string, total: number): void;
  update(value: number, detail?: string): void;
  stop(): void;
}

export function progressBar(enabled = true): Progress {
  if (!enabled) return { start() {}, update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: '{phase} |{bar}| {value}/{total} {detail}', stream: process.stderr, hideCursor: true, clearOnComplete: false, barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  return {
    start(phase, total) {
      if (running) bar.stop();
      bar.start(total, 0, { phase: phase.padEnd(12), detail: '' });
      running = true;
    },
    update(value, detail = '') {
      bar.update(value, { detail });
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

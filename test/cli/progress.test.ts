/** The CLI's progress reporter: a bar on a terminal, a line every few seconds in a log. */
import { describe, expect, it } from 'vitest';
import { progressReporter } from '../../cli/progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) } };
}

describe('progressReporter', () => {
  it('not a terminal: one line per interval with phase, done/total, rate and ETA, and a final line', () => {
    let clock = 0;
    const { writes, stream } = fakeStream(false);
    const p = progressReporter(true, { stream, now: () => clock, intervalSeconds: 5 });
    p.start('training', 300, 'steps');
    for (let step = 1; step <= 300; step++) {
      clock += 100; // 10 steps per second: 30 s in all
      p.update(step, `loss ${(1 / step).toFixed(3)}`);
    }
    p.stop();
    // 30 s at one line per 5 s: lines at 5, 10, ..., 30 s, then the final one.
    expect(writes.length).toBe(7);
    expect(writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
    expect(writes[0]).toBe('training:  17% 50/300 steps (10.0 steps/s, ETA 25s)  loss 0.020\n');
    expect(writes[writes.length - 1]).toBe('training: 100% 300/300 steps (30s elapsed)  loss 0.003\n');
  });

  it('a phase shorter than the interval still leaves its final line; bytes are shown in MiB', () => {
    let clock = 0;
    const { writes, stream } = fakeStream(false);
    const p = progressReporter(true, { stream, now: () => clock });
    p.start('download', 8 * 2 ** 20, 'B');
    clock = 2000;
    p.update(4 * 2 ** 20);
    expect(writes).toEqual([]);
    p.stop();
    expect(writes).toEqual(['download:  50% 4.0 MiB/8.0 MiB (2.0 MiB/s, ETA 2.0s)\n']);
  });

  it('a terminal: the bar is redrawn in place and the phase ends with a newline', () => {
    let clock = 0;
    const { writes, stream } = fakeStream(true);
    const p = progressReporter(true, { stream, now: () => clock });
    p.start('NTK', 2, 'kernels');
    clock = 1000;
    p.update(1);
    clock = 2000;
    p.update(2);
    p.stop();
    expect(writes.every((w) => w.startsWith('\r'))).toBe(true);
    expect(writes[0]).toContain('NTK          [------------------------------]   0% 0/2 kernels');
    expect(writes[writes.length - 1]).toMatch(/^\rNTK {10}\[#{30}\] 100% 2\/2 kernels \(2\.0s elapsed\)\x1b\[K\n$/);
  });

  it('disabled: prints nothing', () => {
    const { writes, stream } = fakeStream(false);
    const p = progressReporter(false, { stream, intervalSeconds: 0 });
    p.start('x', 1);
    p.update(1);
    p.stop();
    expect(writes).toEqual([]);
  });
});

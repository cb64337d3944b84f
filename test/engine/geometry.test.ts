/**
 * The output-size geometry (engine/conv-params.ts) against counting window positions by brute
 * force, and against the shapes conv2d and avgPool actually produce.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';

/** Positions p = 0, stride, ... where a dilated window fits inside the padded input. */
function countPositions(input: number, window: number, stride: number, dilation: number, before: number, after: number): number {
  const span = (window - 1) * dilation + 1;
  let n = 0;
  for (let p = 0; p + span <= input + before + after; p += stride) n++;
  return n;
}

const geometryArb = fc.record({
  input: fc.integer({ min: 1, max: 40 }),
  window: fc.integer({ min: 1, max: 7 }),
  stride: fc.integer({ min: 1, max: 5 }),
  dilation: fc.integer({ min: 1, max: 3 }),
  padding: fc.constantFrom('SAME', 'VALID') as fc.Arbitrary<tg.WindowPadding>,
});

describe('output-size geometry', () => {
  it('windowOutputLength counts the window positions of the padded input; SAME gives ceil(input / stride)', () => {
    fc.assert(fc.property(geometryArb, ({ input, window, stride, dilation, padding }) => {
      const [before, after] = tg.windowPadding(padding, input, window, stride, dilation);
      expect(before <= after && after - before <= 1).toBe(true);
      const n = tg.windowOutputLength(input, window, stride, dilation, padding);
      expect(Math.max(0, n)).toBe(countPositions(input, window, stride, dilation, before, after));
      if (padding === 'SAME') expect(n).toBe(Math.ceil(input / stride));
    }), { numRuns: 300 });
  });

  it('conv2d and avgPool produce the shapes it predicts', () => {
    fc.assert(fc.property(geometryArb, ({ input, window, stride, dilation, padding }) => tg.tidy(() => {
      const n = tg.windowOutputLength(input, window, stride, dilation, padding);
      const x = tg.zeros([1, input, 2, 1]);
      if (n < 1) {
        expect(() => tg.conv2d(x, tg.zeros([window, 1, 1, 1]), { strides: [stride, 1], dilation: [dilation, 1], padding })).toThrow(/conv2d: the kernel does not fit/);
        return;
      }
      expect(tg.conv2d(x, tg.zeros([window, 1, 1, 1]), { strides: [stride, 1], dilation: [dilation, 1], padding }).shape).toEqual([1, n, 2, 1]);
      const pooled = tg.windowOutputLength(input, window, stride, 1, padding);
      if (pooled >= 1) expect(tg.avgPool(x, [window, 1], [stride, 1], padding).shape).toEqual([1, pooled, 2, 1]);
    })), { numRuns: 100 });
  });
});

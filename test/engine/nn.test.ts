import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { fill } from './cases.ts';
import { expectClose, toTensor } from './util.ts';

describe('composites', () => {
  it('logsumexp is stable for huge inputs and equals the naive formula for small ones', () => {
    tg.tidy(() => {
      const big = tg.tensor([1000, 1000, 999], undefined, 'float64');
      expectClose(tg.logsumexp(big).dataSync(), [1000 + Math.log(2 + Math.exp(-1))], 1e-14, 0, 'big');
      fc.assert(fc.property(fc.nat(), (seed) => tg.tidy(() => {
        const a = fill([3, 5], seed, 'any');
        const naive = [0, 1, 2].map((r) => Math.log(a.data.slice(5 * r, 5 * r + 5).reduce((s, v) => s + Math.exp(v), 0)));
        expectClose(tg.logsumexp(toTensor(a), 1).dataSync(), naive, 1e-13, 1e-13, 'lse');
      })), { numRuns: 20 });
    });
  });

  it('softmax cross-entropy gradient equals (softmax - onehot) / N', () => {
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 5 }), (seed, n, k) => tg.tidy(() => {
      const logits = toTensor(fill([n, k], seed, 'any'));
      const labels = Array.from({ length: n }, (_, i) => (seed + i) % k);
      const onehot = tg.tensor(labels.flatMap((l) => Array.from({ length: k }, (_, j) => +(j === l))), [n, k], 'float64');
      const g = tg.grad((z: Tensor) => tg.softmaxCrossEntropy(z, onehot))(logits) as Tensor;
      const expected = tg.div(tg.sub(tg.softmax(logits), onehot), n);
      expectClose(g.dataSync(), expected.dataSync(), 1e-12, 1e-14, 'ce grad');
    })), { numRuns: 30 });
  });

  it('mse scalings differ by the documented factors', () => {
    tg.tidy(() => {
      const p = tg.tensor([1, 2, 3, 4], [2, 2], 'float64');
      const y = tg.zeros([2, 2], 'float64');
      expect(tg.mse(p, y, 'sum/2').itemSync()).toBe(15);
      expect(tg.mse(p, y, 'mean/2').itemSync()).toBe(15 / 4);
      expect(tg.mse(p, y, 'mean').itemSync()).toBe(30 / 4);
    });
  });

  it('avgPool equals a direct window average (VALID and SAME, strides)', () => {
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.boolean(),
      (seed, h, win, stride, same) => tg.tidy(() => {
        if (win > h) return;
        const a = fill([2, h, h, 3], seed, 'any');
        const out = tg.avgPool(toTensor(a), [win, win], [stride, stride], same ? 'SAME' : 'VALID');
        const [pt] = same ? tg.samePadding(h, win, stride, 1) : [0];
        const oh = out.shape[1];
        const got = out.dataSync();
        for (let n = 0; n < 2; n++) for (let i = 0; i < oh; i++) for (let j = 0; j < oh; j++) for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let di = 0; di < win; di++) for (let dj = 0; dj < win; dj++) {
            const r = i * stride + di - pt;
            const q = j * stride + dj - pt;
            if (r >= 0 && q >= 0 && r < h && q < h) s += a.data[((n * h + r) * h + q) * 3 + c];
          }
          expect(Math.abs(got[((n * oh + i) * oh + j) * 3 + c] - s / (win * win))).toBeLessThan(1e-12);
        }
      })), { numRuns: 30 });
  });

  it('relu has derivative 0 at 0 and sigmoid matches 1/(1+e^-x)', () => {
    tg.tidy(() => {
      const g = tg.grad((x: Tensor) => tg.sum(tg.relu(x)))(tg.tensor([-1, 0, 2], undefined, 'float64')) as Tensor;
      expect(Array.from(g.dataSync())).toEqual([0, 0, 1]);
      const x = tg.tensor([-30, -1, 0, 1, 30], undefined, 'float64');
      expectClose(tg.sigmoid(x).dataSync(), [-30, -1, 0, 1, 30].map((v) => 1 / (1 + Math.exp(-v))), 1e-14, 1e-15, 'sigmoid');
    });
  });
});

/**
 * Composites clean up after themselves: called outside any tidy, each leaves exactly one new
 * tensor (its result) and no intermediates the caller cannot reach; the tidy inside them does
 * not break differentiation (inside a trace, intermediates stay alive until the trace is done).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { randomArray } from '../random-array.ts';

/** Tensors a composite takes besides its input, made before the live count is taken. */
interface Aux {
  zeros: Tensor;
  /** The input as a matrix [n, 16 c], and ones of that shape. */
  matrix: Tensor;
  onesMatrix: Tensor;
  flat: Tensor;
  column: Tensor;
  positive: Tensor;
}

/** Composites of one [n, 4, 4, c] input (random data), each returning one tensor. */
const COMPOSITES: Record<string, (x: Tensor, aux: Aux) => Tensor> = {
  relu: tg.relu,
  sigmoid: tg.sigmoid,
  logsumexp: (x) => tg.logsumexp(x, [1, 2]),
  logSoftmax: (x) => tg.logSoftmax(x, -1),
  softmax: (x) => tg.softmax(x, 1),
  mse: (x, a) => tg.mse(x, a.zeros),
  softmaxCrossEntropy: (_x, a) => tg.softmaxCrossEntropy(a.matrix, a.onesMatrix),
  avgPoolValid: (x) => tg.avgPool(x, [2, 2]),
  avgPoolSame: (x) => tg.avgPool(x, [3, 3], [2, 2], 'SAME'),
  globalAvgPool: tg.globalAvgPool,
  mean: (x) => tg.mean(x, [0, 3]),
  min: (x) => tg.min(x, 2),
  'mul(x, 0.01)': (x) => tg.mul(x, 0.01),
  'sub(1, x)': (x) => tg.sub(1, x),
  reciprocal: tg.reciprocal,
  'where(c, 0, x)': (x, a) => tg.where(a.positive, 0, x),
  sumToShape: (x) => tg.sumToShape(x, [1, 4, 1, x.shape[3]]),
  stack: (x) => tg.stack([x, x], 1),
  'matmul of vectors': (_x, a) => tg.matmul(a.flat, a.flat),
  'matmul vector x matrix': (_x, a) => tg.matmul(a.flat, a.column),
};

function auxOf(x: Tensor): Aux {
  const matrix = tg.reshape(x, [x.shape[0], -1]);
  return {
    zeros: tg.zerosLike(x),
    matrix,
    onesMatrix: tg.onesLike(matrix),
    flat: tg.reshape(x, [-1]),
    column: tg.reshape(x, [-1, 1]),
    positive: tg.greater(x, 0),
  };
}

const caseArb = fc.record({
  name: fc.constantFrom(...Object.keys(COMPOSITES)),
  n: fc.integer({ min: 1, max: 3 }),
  c: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat(),
});

function input(n: number, c: number, seed: number): Tensor {
  return tg.tensor(randomArray('float64', n * 16 * c, seed), [n, 4, 4, c], 'float64');
}

/** Inner product of two tensors of equal shape, in float64 on the host. */
function inner(a: Tensor, b: Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

describe('composites outside tidy', () => {
  it('leave no intermediates: the live tensor count is back where it was once the result is disposed', () => {
    const cpu = tg.backendInstance('cpu')!;
    fc.assert(fc.property(caseArb, ({ name, n, c, seed }) => {
      const x = input(n, c, seed);
      const aux = auxOf(x);
      const tensors = tg.liveTensorCount();
      const storages = cpu.liveCount();
      const y = COMPOSITES[name](x, aux);
      expect(tg.liveTensorCount(), `${name}: tensors alive besides its result`).toBe(tensors + 1);
      y.dispose();
      expect(tg.liveTensorCount(), name).toBe(tensors);
      expect(cpu.liveCount(), name).toBe(storages);
      tg.dispose([x, aux]);
    }), { numRuns: 100 });
  });

  it('still differentiate: <J v, u> from jvp equals <v, J^T u> from vjp, and nothing leaks after', () => {
    fc.assert(fc.property(caseArb, fc.nat(), ({ name, n, c, seed }, seed2) => {
      const before = tg.liveTensorCount();
      tg.tidy(() => {
        const x = input(n, c, seed);
        // Differentiated through its input only; the other operands are constants.
        const aux = auxOf(tg.stopGradient(x));
        const f = (z: Tensor) => COMPOSITES[name](z, aux);
        const v = input(n, c, seed2);
        const [y, jv] = tg.jvp(f, [x], [v]) as [Tensor, Tensor];
        const u = tg.tensor(randomArray('float64', y.size, seed2 + 1), y.shape, 'float64');
        const [, back] = tg.vjp(f, x);
        const [ju] = back(u) as Tensor[];
        const lhs = inner(jv, u);
        const rhs = inner(v, ju);
        expect(Math.abs(lhs - rhs), `${name}: ${lhs} vs ${rhs}`).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
      });
      expect(tg.liveTensorCount(), name).toBe(before);
    }), { numRuns: 60 });
  });

  it("a traced graph's dispose(keep) keeps an intermediate that a composite's own tidy freed", () => {
    const before = tg.liveTensorCount();
    const values = [-2, 0.5, 3];
    const read = tg.tidy(() => {
      const x = tg.tensor(values, undefined, 'float64');
      const graph = tg.traceGraph((z: Tensor) => tg.sum(tg.sigmoid(z)), [x], [0]);
      // tanh(z / 2) inside sigmoid: an intermediate of the composite, disposed by its tidy (deferred while pinned).
      const inner = graph.nodes().find((t) => t.node?.primitive.name === 'tanh')!;
      graph.dispose([inner]);
      expect(inner.isDisposed).toBe(false);
      return Array.from(inner.dataSync());
    });
    expect(read).toEqual(values.map((v) => Math.tanh(v / 2)));
    // Kept values joined the caller's tidy, which freed them.
    expect(tg.liveTensorCount()).toBe(before);
  });

  it('a tidy whose function throws frees what it created', () => {
    const before = tg.liveTensorCount();
    expect(() => tg.tidy(() => {
      tg.mul(tg.ones([3]), 2);
      throw new Error('boom');
    })).toThrow('boom');
    expect(tg.liveTensorCount()).toBe(before);
  });
});

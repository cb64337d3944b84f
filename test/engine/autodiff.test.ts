/** The autodiff drivers: trees, argnums, aux, symbolic zeros, nesting, and the memory model. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { fill } from './cases.ts';
import { expectClose, toTensor } from './util.ts';

const f64 = (v: number[], shape?: number[]) => tg.tensor(v, shape, 'float64');

describe('reverse mode', () => {
  it('differentiates parameter trees (nested objects and arrays) and keeps their structure', () => {
    tg.tidy(() => {
      const params = { layers: [{ w: f64([1, 2, 3, 4], [2, 2]), b: f64([0.5, -0.5]) }], scale: f64([2]) };
      const x = f64([1, -1], [1, 2]);
      const loss = (p: typeof params, input: Tensor) => {
        const h = tg.add(tg.matmul(input, p.layers[0].w), p.layers[0].b);
        return tg.sum(tg.mul(tg.square(h), p.scale));
      };
      const [value, g] = tg.valueAndGrad(loss)(params, x);
      // h = [1-3+0.5, 2-4-0.5] = [-1.5, -2.5]; loss = 2 * (2.25 + 6.25) = 17
      expect(value.itemSync()).toBeCloseTo(17, 12);
      expect(Array.from(g.layers[0].b.dataSync())).toEqual([-6, -10]);
      expect(Array.from(g.layers[0].w.dataSync())).toEqual([-6, -10, 6, 10]);
      expect(Array.from(g.scale.dataSync())).toEqual([8.5]);
    });
  });

  it('argnums selects arguments; hasAux passes extra outputs through', () => {
    tg.tidy(() => {
      const a = f64([3]);
      const b = f64([4]);
      const [ga, gb] = tg.grad((x: Tensor, y: Tensor) => tg.sum(tg.mul(x, y)), { argnums: [0, 1] })(a, b);
      expect([ga.itemSync(), gb.itemSync()]).toEqual([4, 3]);
      const gy = tg.grad((x: Tensor, y: Tensor) => tg.sum(tg.mul(x, y)), { argnums: 1 })(a, b);
      expect(gy.itemSync()).toBe(3);
      const [[value, aux], g] = tg.valueAndGrad((x: Tensor) => [tg.sum(tg.square(x)), tg.mul(x, 10)], { hasAux: true })(a);
      expect([value.itemSync(), aux.itemSync(), g.itemSync()]).toEqual([9, 30, 6]);
    });
  });

  it('gives zero gradients to inputs the output does not depend on, and accumulates over fan-out', () => {
    tg.tidy(() => {
      const [gx, gy] = tg.grad((x: Tensor, _y: Tensor) => tg.sum(tg.add(tg.mul(x, x), tg.mul(x, 3))), { argnums: [0, 1] })(f64([2]), f64([5, 6]));
      expect(gx.itemSync()).toBe(7);
      expect(Array.from(gy.dataSync())).toEqual([0, 0]);
    });
  });

  it('vjp returns one cotangent tree per primal for non-scalar outputs', () => {
    tg.tidy(() => {
      const x = f64([1, 2, 3]);
      const [y, back] = tg.vjp((t: Tensor) => ({ sq: tg.square(t), s: tg.sum(t) }), x);
      expect(Array.from((y.sq as Tensor).dataSync())).toEqual([1, 4, 9]);
      const [dx] = back({ sq: f64([1, 1, 1]), s: f64([2], []) });
      expect(Array.from((dx as Tensor).dataSync())).toEqual([4, 6, 8]);
      expect(() => back({ sq: f64([1, 1]), s: f64([2], []) })).toThrow(/vjp: cotangent .* must match float64\[3\]/);
    });
  });

  it('rejects non-scalar outputs in grad with a message naming the shape', () => {
    expect(() => tg.grad((x: Tensor) => tg.mul(x, 2))(f64([1, 2]))).toThrow(/grad: .*scalar.*\[2\]/);
  });
});

describe('forward mode', () => {
  it('symbolic zero tangents cost nothing and give zeros', () => {
    tg.tidy(() => {
      const x = f64([1, 2]);
      const y = f64([3, 4]);
      const [out, t] = tg.jvp((a: Tensor, b: Tensor) => tg.mul(a, b), [x, y], [f64([1, 0]), null]);
      expect(Array.from(out.dataSync())).toEqual([3, 8]);
      expect(Array.from(t.dataSync())).toEqual([3, 0]);
      const [, t0] = tg.jvp((a: Tensor) => tg.exp(a), [x], [null]);
      expect(Array.from(t0.dataSync())).toEqual([0, 0]);
    });
  });

  it('works over trees and rejects mismatched tangents', () => {
    tg.tidy(() => {
      const p = { w: f64([1, 2]), b: null };
      const [, t] = tg.jvp((q: typeof p) => tg.sum(tg.square(q.w)), [p], [{ w: f64([1, 1]), b: null }]);
      expect(t.itemSync()).toBe(6);
      expect(() => tg.jvp((q: typeof p) => tg.sum(q.w), [p], [{ w: f64([1, 1, 1]), b: null }])).toThrow(/jvp: tangent .* must match float64\[2\]/);
    });
  });

  it('jvp of grad equals grad of jvp (mixed second derivatives commute)', () => {
    fc.assert(fc.property(fc.nat(), (seed) => tg.tidy(() => {
      const x = toTensor(fill([4], seed, 'any'));
      const v = toTensor(fill([4], seed + 1, 'any'));
      const f = (t: Tensor) => tg.sum(tg.mul(tg.tanh(t), tg.exp(tg.mul(t, 0.3))));
      const [, fwdOverRev] = tg.jvp((t: Tensor) => tg.grad(f)(t), [x], [v]);
      const revOverFwd = tg.grad((t: Tensor) => tg.jvp(f, [t], [v])[1])(x);
      expectClose(fwdOverRev.dataSync(), revOverFwd.dataSync(), 1e-12, 1e-12, 'hvp');
    })), { numRuns: 10 });
  });

  it('nested transformations do not confuse their perturbations', () => {
    tg.tidy(() => {
      // d/dx [x * d/dy (x + y)] at y = x is 1, not 2 (the classic perturbation-confusion test).
      const g = tg.grad((x: Tensor) => tg.mul(x, tg.grad((y: Tensor) => tg.sum(tg.add(x, y)))(x)))(f64([1], []));
      expect(g.itemSync()).toBe(1);
    });
  });
});

describe('memory', () => {
  it('10,000 training steps keep the number of live tensors flat', () => {
    const k = tg.key(0);
    let params = tg.keep({ w: tg.normal(k, [8, 4]), b: tg.zeros([4]) });
    const x = tg.keep(tg.normal(tg.foldIn(k, 1), [16, 8]));
    const y = tg.keep(tg.normal(tg.foldIn(k, 2), [16, 4]));
    const loss = (p: typeof params) => tg.mse(tg.tanh(tg.add(tg.matmul(x, p.w), p.b)), y);
    const step = () => {
      const next = tg.tidy(() => {
        const g = tg.grad(loss)(params);
        return tg.keep(tg.treeZip([params, g], ([p, gp]) => tg.sub(p, tg.mul(gp, 0.01))));
      });
      tg.dispose(params);
      params = next;
    };
    for (let i = 0; i < 100; i++) step();
    const live = tg.liveTensorCount();
    const storages = tg.getBackend().liveCount();
    const first = tg.tidy(() => loss(params).itemSync());
    for (let i = 0; i < 9900; i++) step();
    expect(tg.liveTensorCount()).toBe(live);
    expect(tg.getBackend().liveCount()).toBe(storages);
    expect(tg.tidy(() => loss(params).itemSync())).toBeLessThan(first);
  });

  it('a tidy inside a traced function does not free values the backward pass needs', () => {
    tg.tidy(() => {
      const g = tg.grad((x: Tensor) => tg.tidy(() => tg.sum(tg.exp(tg.exp(x)))))(f64([0.5]));
      expectClose(g.dataSync(), [Math.exp(0.5) * Math.exp(Math.exp(0.5))], 1e-14, 0, 'grad');
    });
  });

  it('using a disposed tensor is a clear error', () => {
    const x = tg.tensor([1, 2]);
    x.dispose();
    expect(() => tg.add(x, 1)).toThrow(/used after dispose/);
  });
});

describe('failures inside traced functions', () => {
  it('an exception inside f leaves no tensor pinned or alive and tracing usable', () => {
    const before = tg.liveTensorCount();
    const x = tg.tensor([1, 2, 3]);
    expect(() => tg.grad((t: Tensor) => {
      tg.exp(t);
      throw new Error('boom');
    })(x)).toThrow('boom');
    expect(() => tg.jvp((t: Tensor) => tg.add(tg.exp(t), tg.zeros([4])), [x], [x])).toThrow(/add: shapes \[3\] and \[4\] do not broadcast/);
    x.dispose();
    expect(tg.liveTensorCount()).toBe(before);
    const g = tg.grad((t: Tensor) => tg.sum(tg.square(t)))(tg.tensor([3], undefined, 'float64'));
    expect(g.itemSync()).toBe(6);
  });
});

describe('traceGraph: one trace, many walks', () => {
  const f = (p: { a: Tensor; b: Tensor }, x: Tensor) => tg.sum(tg.mul(tg.tanh(tg.matmul(x, p.a)), p.b), 1);
  const params = () => ({ a: tg.normal(tg.key(1), [3, 4], 'float64'), b: tg.normal(tg.key(2), [4], 'float64') });

  it('forward walks equal jvp and reverse walks equal vjp, again and again, with f run once', () => {
    tg.tidy(() => {
      const p = params();
      const x = tg.normal(tg.key(3), [5, 3], 'float64');
      let calls = 0;
      const graph = tg.traceGraph((q: typeof p) => (calls++, f(q, x)), [p], [0]);
      for (let i = 0; i < 3; i++) {
        const v = { a: tg.normal(tg.key(10 + i), [3, 4], 'float64'), b: tg.normal(tg.key(20 + i), [4], 'float64') };
        const [jv] = graph.tangents([v.a, v.b]);
        expectClose(jv!.dataSync(), tg.jvp((q: typeof p) => f(q, x), [p], [v])[1].dataSync(), 1e-14, 1e-14, `jvp ${i}`);
        // A null tangent is a zero: only a's contribution.
        const [ja] = graph.tangents([v.a, null]);
        expectClose(ja!.dataSync(), tg.jvp((q: typeof p) => f(q, x), [p], [{ a: v.a, b: null }])[1].dataSync(), 1e-14, 1e-14, `partial jvp ${i}`);
        const u = tg.normal(tg.key(30 + i), [5], 'float64');
        const { inputs } = graph.cotangents([u], []);
        const [, back] = tg.vjp((q: typeof p) => f(q, x), p);
        const [g] = back(u) as [typeof p];
        expectClose(inputs[0]!.dataSync(), g.a.dataSync(), 1e-14, 1e-14, `vjp a ${i}`);
        expectClose(inputs[1]!.dataSync(), g.b.dataSync(), 1e-14, 1e-14, `vjp b ${i}`);
      }
      expect(calls).toBe(1);
      expect(() => graph.tangents([null])).toThrow(/traceGraph: 1 input tangents for 2 inputs/);
    });
  });

  it('unscoped, it outlives the tidy that traced it; dispose() frees everything it created, outputs included', () => {
    const p = tg.keep(params());
    const x = tg.keep(tg.normal(tg.key(3), [5, 3], 'float64'));
    const before = tg.liveTensorCount();
    const graph = tg.tidy(() => tg.traceGraph((q: typeof p) => f(q, x), [p], [0], { scoped: false }));
    const [jv] = tg.tidy(() => graph.tangents([p.a, p.b]));
    expect(jv!.dataSync().length).toBe(5);
    jv!.dispose();
    graph.dispose();
    expect(tg.liveTensorCount()).toBe(before);
    expect(() => graph.tangents([null, null])).toThrow(/traceGraph: the traced graph was disposed/);
    tg.dispose([p, x]);
  });
});

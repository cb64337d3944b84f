/**
 * The stax structure layers (SumPool, GlobalSumPool, fanInProd, LayerNorm, Dropout) and the width
 * scalings `s` of Dense / Conv, in float64: kernel rules against the recursion written out by hand
 * on the host, against empirical kernels where those are deterministic, and against Monte Carlo
 * over initializations (and dropout masks) of finite networks; apply against direct loops.
 */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { DType, Key, Tensor } from '../../engine/index.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import type { InitApplyModel } from '../../linearize/monte-carlo.ts';
import {
  AvgPool,
  Conv,
  ConvTranspose,
  Dense,
  Dropout,
  Erf,
  Flatten,
  GlobalAvgPool,
  GlobalSumPool,
  Identity,
  LayerNorm,
  Relu,
  SumPool,
  fanInProd,
  fanInSum,
  gradientDescent,
  mseLoss,
  train,
  fanOut,
  parallel,
  serial,
  type KernelLayer,
} from '../../models/index.ts';
import { host } from './host-kernel.ts';
import { monteCarloAgrees, o } from './monte-carlo-check.ts';

const x = tg.normal(tg.key(31), [5, 4], 'float64');
const x2 = tg.normal(tg.key(32), [3, 4], 'float64');
const img = tg.normal(tg.key(33), [3, 4, 3, 2], 'float64');
const rows = (t: Tensor) => t.arraySync() as number[][];

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const scale = Math.max(1, Math.abs(want[i]));
    if (!(Math.abs(got[i] - want[i]) <= rtol * scale)) throw new Error(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('SumPool and GlobalSumPool', () => {
  it('apply sums each window (direct loops, SAME padding adds zeros)', () => {
    const layer = SumPool([2, 3], [2, 1], 'SAME');
    const y = rows(tg.reshape(layer.apply(null, img) as Tensor, [-1, 2]));
    const X = img.arraySync() as number[][][][];
    const [N, H, W, C] = img.shape;
    const oh = Math.ceil(H / 2);
    const ow = W;
    // SAME: total padding max((out - 1) stride + window - in, 0), split with the extra after.
    const ph = Math.floor(Math.max((oh - 1) * 2 + 2 - H, 0) / 2);
    const pw = Math.floor(Math.max((ow - 1) * 1 + 3 - W, 0) / 2);
    let r = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++, r++) {
          for (let c = 0; c < C; c++) {
            let s = 0;
            for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) {
              const p = i * 2 + a - ph;
              const q = j + b - pw;
              if (p >= 0 && p < H && q >= 0 && q < W) s += X[n][p][q][c];
            }
            expect(y[r][c]).toBeCloseTo(s, 13);
          }
        }
      }
    }
    const g = GlobalSumPool().apply(null, img) as Tensor;
    expectClose(g.dataSync(), tg.sum(img, [1, 2]).dataSync(), 1e-15, 'GlobalSumPool');
  });

  it('kernel after a 1x1 Conv: K(p, q) summed over both windows, by hand', () => {
    const net = serial(Conv(3, [1, 1], o), SumPool([2, 2], [1, 1], 'VALID'));
    const r = host(net.kernel(img, undefined, { spatial: 'full' }));
    const X = img.arraySync() as number[][][][];
    const [N, H, W, C] = img.shape;
    const k0 = (n: number, m: number, p: [number, number], q: [number, number]) =>
      o.W_std ** 2 * X[n][p[0]][p[1]].reduce((s, v, c) => s + v * X[m][q[0]][q[1]][c], 0) / C + o.b_std ** 2;
    const oh = H - 1;
    const ow = W - 1;
    expect(r.nngp.shape).toEqual([N, N, oh, ow, oh, ow]);
    let idx = 0;
    for (let n = 0; n < N; n++) for (let m = 0; m < N; m++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let k = 0; k < oh; k++) for (let l = 0; l < ow; l++, idx++) {
      let s = 0;
      for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 2; c++) for (let d = 0; d < 2; d++) s += k0(n, m, [i + a, j + b], [k + c, l + d]);
      expect(r.nngp.data[idx]).toBeCloseTo(s, 12);
    }
  });

  it('GlobalSumPool = (H W)^2 GlobalAvgPool; SumPool = window^2 AvgPool, in NNGP and NTK', () => {
    const head = (pool: KernelLayer) => serial(Conv(4, [2, 2], { ...o, padding: 'SAME' }), Relu(), pool, Dense(1, o));
    const sum = host(head(GlobalSumPool()).kernel(img, undefined, { spatial: 'full' }));
    const avg = host(serial(Conv(4, [2, 2], { ...o, padding: 'SAME' }), Relu(), GlobalAvgPool()).kernel(img, undefined, { spatial: 'full' }));
    const sumBody = host(serial(Conv(4, [2, 2], { ...o, padding: 'SAME' }), Relu(), GlobalSumPool()).kernel(img, undefined, { spatial: 'full' }));
    expectClose(sumBody.nngp.data, Array.from(avg.nngp.data, (v) => v * 144), 1e-12, 'nngp');
    expectClose(sumBody.ntk!.data, Array.from(avg.ntk!.data, (v) => v * 144), 1e-12, 'ntk');
    expect(sum.nngp.shape).toEqual([3, 3]);
    const sp = host(serial(Conv(2, [2, 2], o), Relu(), SumPool([2, 2], [1, 2])).kernel(img, undefined, { spatial: 'full' }));
    const ap = host(serial(Conv(2, [2, 2], o), Relu(), AvgPool([2, 2], [1, 2])).kernel(img, undefined, { spatial: 'full' }));
    expectClose(sp.ntk!.data, Array.from(ap.ntk!.data, (v) => v * 16), 1e-12, 'SumPool ntk');
  });

  it("needs the full position-pair kernel: 'auto' picks it, 'diagonal' is refused saying how to get it", () => {
    for (const pool of [SumPool([2, 2]), GlobalSumPool()]) {
      const net = serial(Conv(2, [2, 2], o), Relu(), pool);
      const auto = host(net.kernel(img));
      const full = host(net.kernel(img, undefined, { spatial: 'full' }));
      expect(auto.ntk!.data).toEqual(full.ntk!.data);
    }
    expect(() => serial(Conv(2, [2, 2]), SumPool([2, 2])).kernel(img, undefined, { spatial: 'diagonal' })).toThrow(/SumPool\(\[2,2\]\): needs the full position-pair kernel; compute it with \{ spatial: 'full' \}/);
  });

  it('Monte Carlo: Conv -> Relu -> SumPool -> Flatten -> Dense', () => {
    const small = tg.normal(tg.key(34), [3, 3, 3, 1], 'float64');
    monteCarloAgrees((n) => [Conv(n, [2, 2], { ...o, padding: 'SAME' }), Relu(), SumPool([2, 2]), Flatten()], small, { width: 128, samples: 16, spatial: 'full' });
  });
});

describe('fanInProd', () => {
  it('of two Dense branches: K = K1 K2 and Theta = Theta1 K2 + K1 Theta2, by hand; apply multiplies', () => {
    const a = { W_std: 1.1, b_std: 0.2 };
    const b = { W_std: 0.7, b_std: 0.5 };
    const net = serial(fanOut(2), parallel(Dense(6, a), Dense(6, b)), fanInProd());
    const r = host(net.kernel(x, x2));
    const X1 = rows(x);
    const X2 = rows(x2);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) {
      const dot = X1[i].reduce((s, v, c) => s + v * X2[j][c], 0) / 4;
      const k1 = a.W_std ** 2 * dot + a.b_std ** 2;
      const k2 = b.W_std ** 2 * dot + b.b_std ** 2;
      expect(r.nngp.data[i * 3 + j]).toBeCloseTo(k1 * k2, 13);
      // Each Dense in the NTK parameterization: Theta = K.
      expect(r.ntk!.data[i * 3 + j]).toBeCloseTo(2 * k1 * k2, 13);
    }
    const { params } = net.init(tg.key(1), [-1, 4], 'float64');
    const y = net.apply(params, x) as Tensor;
    const [pa, pb] = (params as unknown[])[1] as unknown[];
    const ya = Dense(6, a).apply(pa as never, x);
    const yb = Dense(6, b).apply(pb as never, x);
    expectClose(y.dataSync(), tg.mul(ya, yb).dataSync(), 1e-15, 'apply');
  });

  it('of three branches: Theta = sum_i Theta_i prod_{j != i} K_j (the product rule)', () => {
    const ws = [{ W_std: 1.1, b_std: 0.2 }, { W_std: 0.7, b_std: 0.5 }, { W_std: 1.4 }];
    const branch = (i: number) => (i === 2 ? serial(Dense(6, o), Erf(), Dense(6, ws[2])) : Dense(6, ws[i]));
    const r = host(serial(fanOut(3), parallel(branch(0), branch(1), branch(2)), fanInProd()).kernel(x, x2));
    const each = [0, 1, 2].map((i) => host(branch(i).kernel(x, x2)));
    for (let e = 0; e < 15; e++) {
      const [k0, k1, k2] = each.map((h) => h.nngp.data[e]);
      const [t0, t1, t2] = each.map((h) => h.ntk!.data[e]);
      expect(r.nngp.data[e]).toBeCloseTo(k0 * k1 * k2, 13);
      expect(r.ntk!.data[e]).toBeCloseTo(t0 * k1 * k2 + k0 * t1 * k2 + k0 * k1 * t2, 13);
    }
  });

  it('refuses branches that are not independent', () => {
    expect(() => serial(Dense(4), fanOut(2), parallel(Identity(), Relu()), fanInProd()).kernel(x)).toThrow(/fanInProd: branches 0 and 1 are not independent/);
  });

  it('Monte Carlo: a product of a linear and a nonlinear branch', () => {
    monteCarloAgrees((n) => [Dense(n, o), Relu(), fanOut(2), parallel(Dense(n, o), serial(Dense(n, o), Erf())), fanInProd()], tg.slice(x, [0, 0], [4, 4]), {
      width: 256,
      samples: 16,
      wrong: (n) => [Dense(n, o), Relu(), fanOut(2), parallel(Dense(n, o), serial(Dense(n, o), Erf())), fanInSum()],
    });
  });
});

describe('LayerNorm', () => {
  it('apply: zero mean and unit variance over the axes', () => {
    for (const [input, axis] of [[x, -1], [img, [1, 2, 3]], [img, [2, -1]]] as const) {
      const y = LayerNorm({ axis: axis as number | number[], eps: 0 }).apply(null, input) as Tensor;
      const axes = (typeof axis === 'number' ? [axis] : axis).map((a) => (a < 0 ? a + input.rank : a));
      const mean = tg.mean(y, axes).dataSync();
      const v = tg.mean(tg.mul(y, y), axes).dataSync();
      mean.forEach((m) => expect(Math.abs(m)).toBeLessThan(1e-14));
      v.forEach((s) => expect(s).toBeCloseTo(1, 13));
    }
  });

  it('dense kernel: K / sqrt((eps + K11)(eps + K22)), Theta likewise, by hand', () => {
    const eps = 0.05;
    const r = host(serial(Dense(7, o), LayerNorm({ eps })).kernel(x, x2));
    const X1 = rows(x);
    const X2 = rows(x2);
    const k = (u: number[], v: number[]) => o.W_std ** 2 * u.reduce((s, a, c) => s + a * v[c], 0) / 4 + o.b_std ** 2;
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) {
      const d = Math.sqrt((eps + k(X1[i], X1[i])) * (eps + k(X2[j], X2[j])));
      expect(r.nngp.data[i * 3 + j]).toBeCloseTo(k(X1[i], X2[j]) / d, 13);
      expect(r.ntk!.data[i * 3 + j]).toBeCloseTo(k(X1[i], X2[j]) / d, 13);
    }
  });

  it('image kernel over [H, W, C]: each side divided by its variance averaged over positions; full and diagonal layouts agree', () => {
    const conv = Conv(3, [2, 2], { ...o, padding: 'SAME' });
    const full = host(serial(conv, LayerNorm({ axis: [1, 2, 3], eps: 0 })).kernel(img, undefined, { spatial: 'full' }));
    const raw = host(conv.kernel(img, undefined, { spatial: 'full' }));
    const [N, H, W] = img.shape;
    const S = H * W;
    const at = (t: { data: ArrayLike<number> }, n: number, m: number, p: number, q: number) => t.data[((n * N + m) * S + p) * S + q];
    const v = Array.from({ length: N }, (_, n) => Array.from({ length: S }, (_, p) => at(raw.nngp, n, n, p, p)).reduce((s, a) => s + a, 0) / S);
    for (let n = 0; n < N; n++) for (let m = 0; m < N; m++) for (let p = 0; p < S; p++) for (let q = 0; q < S; q++) {
      expect(at(full.nngp, n, m, p, q)).toBeCloseTo(at(raw.nngp, n, m, p, q) / Math.sqrt(v[n] * v[m]), 12);
    }
    const diag = host(serial(conv, LayerNorm(), Relu(), Flatten(), Dense(1)).kernel(img, undefined, { spatial: 'diagonal' }));
    const fullRelu = host(serial(conv, LayerNorm(), Relu(), Flatten(), Dense(1)).kernel(img, undefined, { spatial: 'full' }));
    expectClose(diag.ntk!.data, fullRelu.ntk!.data, 1e-12, 'layouts');
  });

  it('refuses a non-Gaussian input, a missing channel axis and the batch axis', () => {
    expect(() => serial(Dense(3), Relu(), LayerNorm()).kernel(x)).toThrow(/LayerNorm: its infinite-width rule needs a Gaussian input/);
    expect(() => LayerNorm({ axis: [1, 2] }).init(tg.key(0), [-1, 4, 4, 3])).toThrow(/must include the channel axis/);
    expect(() => LayerNorm({ axis: [0, -1] }).init(tg.key(0), [-1, 4])).toThrow(/cannot normalize over the batch axis 0/);
    expect(() => LayerNorm({ axis: 5 }).init(tg.key(0), [-1, 4])).toThrow(/axis 5 is out of range for rank-2/);
  });

  it('Monte Carlo: Dense -> LayerNorm -> Relu -> Dense', () => {
    monteCarloAgrees((n) => [Dense(n, o), LayerNorm(), Relu()], tg.slice(x, [0, 0], [4, 4]), { width: 256, samples: 16, wrong: (n) => [Dense(n, o), Relu()] });
  });
});

describe('Dropout', () => {
  it('apply: deterministic given the key, keeps about rate of the units scaled by 1 / rate, identity in test mode', () => {
    const d = Dropout(0.75);
    const big = tg.normal(tg.key(40), [64, 64], 'float64');
    const a = (d.apply(null, big, { key: tg.key(1) }) as Tensor).dataSync();
    const b = (d.apply(null, big, { key: tg.key(1) }) as Tensor).dataSync();
    const c = (d.apply(null, big, { key: tg.key(2) }) as Tensor).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    const xs = big.dataSync();
    let kept = 0;
    a.forEach((v, i) => {
      if (v !== 0) {
        kept++;
        expect(v).toBeCloseTo(xs[i] / 0.75, 14);
      }
    });
    // Binomial(4096, 0.75): sd 27.7, so +-5 sd is +-139.
    expect(Math.abs(kept - 3072)).toBeLessThan(139);
    expect(d.apply(null, big, { mode: 'test' })).toBe(big);
    expect(Dropout(0.75, { mode: 'test' }).apply(null, big)).toBe(big);
    expect(() => d.apply(null, big)).toThrow(/Dropout\(0.75\): apply in 'train' mode needs a key/);
    expect(() => Dropout(0)).toThrow(/rate \(the keep probability, as in stax\) must be in \(0, 1\]/);
  });

  it('serial splits the key: two Dropouts draw different masks, and the whole is deterministic', () => {
    const net = serial(Dropout(0.5), Dropout(0.5));
    const ones = tg.ones([1, 256], 'float64');
    const y = (net.apply([null, null], ones, { key: tg.key(3) }) as Tensor).dataSync();
    const again = (net.apply([null, null], ones, { key: tg.key(3) }) as Tensor).dataSync();
    expect(Array.from(y)).toEqual(Array.from(again));
    // Same masks twice would give only 0 and 2; independent masks give 0 and 4.
    expect(new Set(y)).toEqual(new Set([0, 4]));
  });

  it('train passes a fresh key per step: training with Dropout is deterministic given the key and differs from training without', async () => {
    const data = { x: tg.normal(tg.key(41), [16, 3], 'float64'), y: tg.normal(tg.key(42), [16, 1], 'float64') };
    const net = serial(Dense(32, o), Relu(), Dropout(0.5), Dense(1, o));
    const { params } = net.init(tg.key(0), [-1, 3], 'float64');
    const run = (key: Key, apply = net.apply) => train({ apply, params, loss: mseLoss('mean/2'), optimizer: gradientDescent(0.05), data, steps: 5, key });
    const a = await run(tg.key(1));
    const b = await run(tg.key(1));
    const c = await run(tg.key(2));
    const none = await run(tg.key(1), (p, v) => net.apply(p, v, { mode: 'test' }));
    const losses = (r: { history: { loss: number }[] }) => r.history.map((h) => h.loss);
    expect(losses(a)).toEqual(losses(b));
    expect(losses(a)).not.toEqual(losses(c));
    expect(losses(a)).not.toEqual(losses(none));
    tg.dispose([a.params, b.params, c.params, none.params]);
  });

  it('kernel: the unit-with-itself entries scaled by 1 / rate, by hand; the identity in test mode', () => {
    const body = serial(Dense(6, o), Relu());
    const plain = host(body.kernel(x));
    const dropped = host(serial(Dense(6, o), Relu(), Dropout(0.8)).kernel(x));
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) {
      const f = i === j ? 1 / 0.8 : 1;
      expect(dropped.nngp.data[i * 5 + j]).toBeCloseTo(plain.nngp.data[i * 5 + j] * f, 14);
      expect(dropped.ntk!.data[i * 5 + j]).toBeCloseTo(plain.ntk!.data[i * 5 + j] * f, 14);
    }
    // x1 against a different x2: no unit meets itself.
    const cross = host(serial(Dense(6, o), Relu(), Dropout(0.8)).kernel(x, x2));
    expectClose(cross.nngp.data, host(body.kernel(x, x2)).nngp.data, 0, 'cross');
    // Blocks: the diagonal blocks are scaled, the others not.
    const blocked = host(serial(Dense(6, o), Relu(), Dropout(0.8)).kernel(x, undefined, { blockSize: 2 }));
    expectClose(blocked.nngp.data, dropped.nngp.data, 1e-15, 'blocked');
    const test = host(serial(Dense(6, o), Relu(), Dropout(0.8, { mode: 'test' })).kernel(x));
    expectClose(test.nngp.data, plain.nngp.data, 0, 'test mode');
    expect(() => serial(Dropout(0.5), Dense(2)).kernel(x)).toThrow(/Dropout\(0.5\): cannot be applied to the network input/);
  });

  it('images, full layout: only the same sample at the same position is scaled', () => {
    const base = serial(Conv(3, [2, 2], { ...o, padding: 'SAME' }), Relu());
    const plain = host(base.kernel(img, undefined, { spatial: 'full' }));
    const dropped = host(serial(Conv(3, [2, 2], { ...o, padding: 'SAME' }), Relu(), Dropout(0.6)).kernel(img, undefined, { spatial: 'full' }));
    const [N, H, W] = img.shape;
    const S = H * W;
    let idx = 0;
    for (let n = 0; n < N; n++) for (let m = 0; m < N; m++) for (let p = 0; p < S; p++) for (let q = 0; q < S; q++, idx++) {
      const f = n === m && p === q ? 1 / 0.6 : 1;
      expect(dropped.nngp.data[idx]).toBeCloseTo(plain.nngp.data[idx] * f, 13);
    }
  });

  it('Monte Carlo over initializations and masks: Dense -> Relu -> Dropout -> Dense', () => {
    // One mask per initialization: the wrapper applies with the key the sample was initialized with.
    const wrap = (net: KernelLayer): InitApplyModel => {
      let current: Key = tg.key(0);
      return {
        init(key: Key, shape: readonly number[], dtype?: DType) {
          current = tg.foldIn(key, 99);
          return net.init(key, shape, dtype);
        },
        apply: (p: unknown, input: Tensor) => net.apply(p as never, input, { key: current }),
      };
    };
    monteCarloAgrees((n) => [Dense(n, o), Relu(), Dropout(0.7)], tg.slice(x, [0, 0], [4, 4]), { width: 256, samples: 16, wrap, wrong: (n) => [Dense(n, o), Relu()] });
  });
});

describe('width scalings s of the standard parameterization', () => {
  it('one Dense: the empirical NTK (deterministic) is x.x\' / s_in + 1, as the rule; shapes grow by s_out', () => {
    const layer = Dense(3, { W_std: 1.4, b_std: 0.2, parameterization: 'standard', s: [2, 3] });
    const { params, outputShape } = layer.init(tg.key(3), [-1, 4], 'float64');
    expect(outputShape).toEqual([-1, 9]);
    expect((params as { W: Tensor }).W.shape).toEqual([4, 9]);
    const emp = empiricalNtk(layer.apply, params, x, x2, { trace: true }).dataSync();
    const r = host(layer.kernel(x, x2));
    const X1 = rows(x);
    const X2 = rows(x2);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) {
      const want = X1[i].reduce((s, v, c) => s + v * X2[j][c], 0) / 2 + 1;
      expect(r.ntk!.data[i * 3 + j]).toBeCloseTo(want, 12);
      expect(emp[i * 3 + j]).toBeCloseTo(want, 12);
    }
  });

  it('apply: the same function as s = [1, 1] for the same draws (only gradients scale)', () => {
    const a = Dense(3, { W_std: 1.4, b_std: 0.2, parameterization: 'standard', s: [4, 1] });
    const b = Dense(3, { W_std: 1.4, b_std: 0.2, parameterization: 'standard' });
    const pa = a.init(tg.key(5), [-1, 4], 'float64').params;
    const pb = b.init(tg.key(5), [-1, 4], 'float64').params;
    expectClose(a.apply(pa, x).dataSync(), b.apply(pb, x).dataSync(), 1e-14, 'apply');
  });

  it('a network whose hidden width is scaled by s has the NTK of the reference width', () => {
    const so = { W_std: 1.3, b_std: 0.2, parameterization: 'standard' as const };
    const net = (s: number) => serial(Dense(16, { ...so, s: [1, s] }), Relu(), Dense(1, { ...so, s: [s, 1] }));
    const ref = host(net(1).kernel(x, x2));
    for (const s of [2, 5]) {
      const r = host(net(s).kernel(x, x2));
      expectClose(r.ntk!.data, ref.ntk!.data, 1e-13, `s = ${s}`);
      const wider = host(serial(Dense(16 * s, so), Relu(), Dense(1, so)).kernel(x, x2));
      expect(Math.abs(wider.ntk!.data[0] - ref.ntk!.data[0])).toBeGreaterThan(1e-3);
    }
  });

  it('Conv with s: fan-in divided by s_in in the NTK, channels times s_out', () => {
    const layer = Conv(2, [2, 2], { W_std: 1.2, b_std: 0.1, parameterization: 'standard', s: [2, 3] });
    const { params, outputShape } = layer.init(tg.key(4), [-1, 4, 3, 2], 'float64');
    expect(outputShape).toEqual([-1, 3, 2, 6]);
    const emp = empiricalNtk((p, v) => tg.reshape(layer.apply(p, v), [v.shape[0], -1]), params, img, undefined, { trace: true }).dataSync();
    const r = host(serial(layer, Flatten()).kernel(img, undefined, { spatial: 'full' }));
    expectClose(r.ntk!.data, emp, 1e-12, 'conv ntk');
  });

  it("refuses s with the 'ntk' parameterization and malformed s", () => {
    expect(() => Dense(3, { s: [2, 2] })).toThrow(/Dense\(3\): s = \[2, 2\] applies to the 'standard' parameterization only/);
    expect(() => Dense(3, { parameterization: 'standard', s: [0, 1] as never })).toThrow(/s must be a pair of positive integers/);
  });
});


describe('1-D convolution as Conv(out, [1, k]) on [N, 1, L, C] (the migration path for stax 1-D Conv)', () => {
  const seq = tg.normal(tg.key(50), [2, 6, 3], 'float64'); // [N, L, C]
  const asImage = (t: Tensor) => tg.reshape(t, [t.shape[0], 1, t.shape[1], t.shape[2]]);

  it('apply equals the 1-D convolution written out (NTK parameterization, VALID, stride 2)', () => {
    const layer = Conv(4, [1, 3], { strides: [1, 2], W_std: 1.4, b_std: 0.3 });
    const { params } = layer.init(tg.key(2), [-1, 1, 6, 3], 'float64');
    const y = rows(tg.reshape(layer.apply(params, asImage(seq)), [-1, 4]));
    const W = ((params as { W: Tensor }).W.arraySync() as number[][][][])[0]; // [k, C, out]
    const b = (params as { b: Tensor }).b.arraySync() as number[];
    const X = seq.arraySync() as number[][][];
    const scale = 1.4 / Math.sqrt(3 * 3);
    let r = 0;
    for (let n = 0; n < 2; n++) for (let p = 0; p < 2; p++, r++) for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let d = 0; d < 3; d++) for (let ci = 0; ci < 3; ci++) s += X[n][2 * p + d][ci] * W[d][ci][c];
      expect(y[r][c]).toBeCloseTo(scale * s + 0.3 * b[c], 13);
    }
  });

  it('kernel: K(p) = W_std^2 mean_d x_{p+d} . x\'_{p+d} / C + b_std^2, by hand', () => {
    const r = host(Conv(4, [1, 2], { W_std: 1.4, b_std: 0.3 }).kernel(asImage(seq)));
    const X = seq.arraySync() as number[][][];
    expect(r.nngp.shape).toEqual([2, 2, 1, 5]);
    for (let n = 0; n < 2; n++) for (let m = 0; m < 2; m++) for (let p = 0; p < 5; p++) {
      let s = 0;
      for (let d = 0; d < 2; d++) s += X[n][p + d].reduce((a, v, c) => a + v * X[m][p + d][c], 0) / 3;
      expect(r.nngp.data[(n * 2 + m) * 5 + p]).toBeCloseTo(1.96 * (s / 2) + 0.09, 13);
    }
  });
});

describe('ConvTranspose', () => {
  const small = tg.normal(tg.key(60), [2, 3, 2, 2], 'float64');

  /** lax.conv_transpose written out: input dilated by the stride, padded [lo, hi], swept at stride 1, kernel not flipped. */
  function reference(X: number[][][][], W: number[][][][], stride: number[], lo: number[], outHW: number[]): number[][][][] {
    const [kh, kw] = [W.length, W[0].length];
    const cout = W[0][0][0].length;
    return X.map((img) =>
      Array.from({ length: outHW[0] }, (_, p) =>
        Array.from({ length: outHW[1] }, (_, q) =>
          Array.from({ length: cout }, (_, o) => {
            let s = 0;
            for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
              const i = p + a - lo[0];
              const j = q + b - lo[1];
              if (i < 0 || j < 0 || i % stride[0] !== 0 || j % stride[1] !== 0) continue;
              const [u, v] = [i / stride[0], j / stride[1]];
              if (u >= img.length || v >= img[0].length) continue;
              img[u][v].forEach((xv, c) => (s += xv * W[a][b][c][o]));
            }
            return s;
          }),
        ),
      ),
    );
  }

  // [window, stride, padding] -> lax.conv_transpose's (pad_a, pad_b) and output size for input 3 / 2.
  const geometries: { filter: [number, number]; strides: [number, number]; padding: 'SAME' | 'VALID'; lo: number[]; out: number[] }[] = [
    { filter: [3, 2], strides: [2, 1], padding: 'SAME', lo: [2, 1], out: [6, 2] },
    { filter: [3, 2], strides: [2, 1], padding: 'VALID', lo: [2, 1], out: [7, 3] },
    { filter: [2, 3], strides: [3, 2], padding: 'SAME', lo: [1, 2], out: [9, 4] },
    { filter: [2, 3], strides: [3, 2], padding: 'VALID', lo: [1, 2], out: [9, 5] },
  ];

  it('apply equals lax.conv_transpose written out, for SAME and VALID, strides below and above the filter size', () => {
    for (const g of geometries) {
      const layer = ConvTranspose(3, g.filter, { strides: g.strides, padding: g.padding, parameterization: 'standard' });
      const { params, outputShape } = layer.init(tg.key(1), [-1, 3, 2, 2], 'float64');
      expect(outputShape).toEqual([-1, ...g.out, 3]);
      const y = layer.apply(params, small);
      const want = reference(small.arraySync() as number[][][][], (params as { W: Tensor }).W.arraySync() as number[][][][], g.strides, g.lo, g.out);
      expectClose(y.dataSync(), want.flat(3), 1e-13, `${g.padding} ${g.strides}`);
    }
  });

  it('one layer: the empirical NTK (deterministic) equals the rule in the full layout, both parameterizations', () => {
    for (const g of geometries) {
      for (const parameterization of ['ntk', 'standard'] as const) {
        const layer = ConvTranspose(2, g.filter, { strides: g.strides, padding: g.padding, W_std: 1.3, b_std: 0.4, parameterization });
        const { params } = layer.init(tg.key(2), [-1, 3, 2, 2], 'float64');
        const flat = (p: unknown, v: Tensor) => tg.reshape(layer.apply(p as never, v), [v.shape[0], -1]);
        // The full empirical NTK [(n, (p, c)), (m, (q, c'))] (outputs p-major, channel fastest).
        const emp = empiricalNtk(flat, params, small).dataSync();
        const S = g.out[0] * g.out[1];
        const K = S * 2;
        const r = host(layer.kernel(small, undefined, { spatial: 'full' }));
        for (let n = 0; n < 2; n++) for (let m = 0; m < 2; m++) for (let p = 0; p < S; p++) for (let q = 0; q < S; q++) for (let c = 0; c < 2; c++) for (let d = 0; d < 2; d++) {
          // Different output channels have independent weights: their NTK entry is 0.
          const want = c === d ? r.ntk!.data[((n * 2 + m) * S + p) * S + q] : 0;
          expect(emp[(n * K + p * 2 + c) * 2 * K + m * K + q * 2 + d]).toBeCloseTo(want, 11);
        }
      }
    }
  });

  it('the diagonal layout agrees with the full one; Monte Carlo: ConvTranspose -> Relu -> ConvTranspose -> Flatten -> Dense', () => {
    const net = serial(ConvTranspose(3, [2, 2], { strides: 2, padding: 'SAME', ...o }), Relu(), ConvTranspose(2, [3, 2], { strides: [1, 2], ...o }), Erf(), Flatten(), Dense(1, o));
    const diag = host(net.kernel(small, undefined, { spatial: 'diagonal' }));
    const full = host(net.kernel(small, undefined, { spatial: 'full' }));
    expectClose(diag.ntk!.data, full.ntk!.data, 1e-12, 'layouts');
    const tiny = tg.normal(tg.key(61), [3, 2, 2, 1], 'float64');
    monteCarloAgrees((n) => [ConvTranspose(n, [2, 2], { strides: 2, padding: 'SAME', ...o }), Relu(), ConvTranspose(n, [3, 3], { padding: 'SAME', ...o }), Flatten()], tiny, {
      width: 64,
      samples: 16,
      wrong: (n) => [Conv(n, [2, 2], { padding: 'SAME', ...o }), Relu(), Conv(n, [3, 3], { padding: 'SAME', ...o }), Flatten()],
    });
  });
});

/**
 * Initialization: the output covariance of one Dense / Conv layer over many initializations is
 * the first-layer NNGP kernel K^1(x, x') = sigma_w^2 x.x'/n0 + sigma_b^2 (PAPER.md sections 1, 6;
 * for a conv, the per-position patch inner product), in both parameterizations, within a
 * tolerance derived from the Monte Carlo standard error; and the NTK and standard
 * parameterizations give identical functions at init for the same key.
 */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { Conv, Dense, Relu, Erf, Flatten, serial, type AnyLayer, type Parameterization } from '../../models/index.ts';

const PARAMS: Parameterization[] = ['ntk', 'standard'];

/**
 * Accumulates E[f_a f_b] over samples; samples are independent draws of a zero-mean Gaussian
 * vector. With a known mean of 0, the estimator of Sigma_ab has variance
 * (Sigma_aa Sigma_bb + Sigma_ab^2) / S exactly, which sets the tolerance.
 */
class SecondMoments {
  readonly sum: Float64Array;
  readonly mean: Float64Array;
  count = 0;
  constructor(readonly dim: number) {
    this.sum = new Float64Array(dim * dim);
    this.mean = new Float64Array(dim);
  }

  add(v: ArrayLike<number>): void {
    for (let a = 0; a < this.dim; a++) {
      this.mean[a] += v[a];
      for (let b = 0; b < this.dim; b++) this.sum[a * this.dim + b] += v[a] * v[b];
    }
    this.count++;
  }

  /** Every entry within z standard errors of the expected covariance; the mean within z SE of 0. */
  check(expected: Float64Array, z: number, what: string): void {
    const d = this.dim;
    const S = this.count;
    let worst = 0;
    for (let a = 0; a < d; a++) {
      const m = this.mean[a] / S;
      const seMean = Math.sqrt(expected[a * d + a] / S);
      if (Math.abs(m) > z * seMean) expect.fail(`${what}: mean of output ${a} is ${m}, more than ${z} SE (${seMean}) from 0`);
      for (let b = 0; b < d; b++) {
        const est = this.sum[a * d + b] / S;
        const want = expected[a * d + b];
        const se = Math.sqrt((expected[a * d + a] * expected[b * d + b] + want * want) / S);
        const score = Math.abs(est - want) / se;
        worst = Math.max(worst, score);
        if (score > z) expect.fail(`${what}: covariance [${a},${b}] is ${est}, expected ${want} (${score.toFixed(2)} SE, ${S} samples)`);
      }
    }
    // Guards against a vacuous pass (e.g. an expected covariance so large any estimate fits).
    expect(worst).toBeGreaterThan(0);
  }
}

describe('initialization statistics (Monte Carlo over initializations)', () => {
  const W_std = 1.5;
  const b_std = 0.6;

  for (const parameterization of PARAMS) {
    it(`Dense, ${parameterization}: Cov[f(x), f(x')] = W_std^2 x.x'/n0 + b_std^2`, async () => {
      const n0 = 6;
      const width = 8; // each output unit is an independent draw: 2000 inits x 8 units
      const inits = 2000;
      const X = tg.tensor([0.9, -1.2, 0.3, 0.5, -0.4, 1.1, 0.2, 0.8, -1.0, 0.6, 0.7, -0.3, -0.5, 0.1, 0.4, -0.9, 1.3, 0.0], [3, n0], 'float64');
      const x = X.dataSync();
      const layer = Dense(width, { W_std, b_std, parameterization });
      const moments = new SecondMoments(3);
      for (let s = 0; s < inits; s++) {
        const out = tg.tidy(() => {
          const { params } = layer.init(tg.key(s), [-1, n0], 'float64');
          return layer.apply(params, X);
        });
        const v = await out.data();
        out.dispose();
        for (let j = 0; j < width; j++) moments.add([v[j], v[width + j], v[2 * width + j]]);
      }
      X.dispose();
      const expected = new Float64Array(9);
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) {
          let dot = 0;
          for (let k = 0; k < n0; k++) dot += x[a * n0 + k] * x[b * n0 + k];
          expected[a * 3 + b] = (W_std ** 2 * dot) / n0 + b_std ** 2;
        }
      }
      moments.check(expected, 5, `Dense ${parameterization}`);
    });

    it(`Conv 3x3 SAME, ${parameterization}: Cov over (image, position) pairs = W_std^2 <patch, patch'>/fan_in + b_std^2`, async () => {
      const [H, Wd, C] = [4, 4, 2];
      const fanIn = 3 * 3 * C;
      const channels = 16;
      const inits = 500;
      const X = tg.normal(tg.key(12345), [2, H, Wd, C], 'float64');
      const x = X.dataSync();
      const layer = Conv(channels, [3, 3], { padding: 'SAME', W_std, b_std, parameterization });
      const P = 2 * H * Wd; // (image, row, col) triples, in the output's memory order
      const moments = new SecondMoments(P);
      for (let s = 0; s < inits; s++) {
        const out = tg.tidy(() => layer.apply(layer.init(tg.key(s), [-1, H, Wd, C], 'float64').params, X));
        const v = await out.data();
        out.dispose();
        for (let c = 0; c < channels; c++) moments.add(Array.from({ length: P }, (_, p) => v[p * channels + c]));
      }
      X.dispose();
      // Zero-padded 3x3 patch of image i at (r, c): the window a SAME conv with stride 1 reads.
      const patch = (p: number): number[] => {
        const i = Math.floor(p / (H * Wd));
        const r = Math.floor(p / Wd) % H;
        const c = p % Wd;
        const out: number[] = [];
        for (let dr = -1; dr <= 1; dr++) {
          for (let dc = -1; dc <= 1; dc++) {
            for (let ch = 0; ch < C; ch++) {
              const rr = r + dr;
              const cc = c + dc;
              out.push(rr >= 0 && rr < H && cc >= 0 && cc < Wd ? x[((i * H + rr) * Wd + cc) * C + ch] : 0);
            }
          }
        }
        return out;
      };
      const patches = Array.from({ length: P }, (_, p) => patch(p));
      const expected = new Float64Array(P * P);
      for (let a = 0; a < P; a++) {
        for (let b = 0; b < P; b++) {
          const dot = patches[a].reduce((acc, va, k) => acc + va * patches[b][k], 0);
          expected[a * P + b] = (W_std ** 2 * dot) / fanIn + b_std ** 2;
        }
      }
      moments.check(expected, 5, `Conv ${parameterization}`);
    });
  }
});

describe('NTK vs standard parameterization at init', () => {
  const nets: [string, (p: Parameterization) => AnyLayer, number[]][] = [
    ['Dense', (p) => Dense(7, { W_std: 1.7, b_std: 0.3, parameterization: p }), [3, 5]],
    ['Conv', (p) => Conv(4, [3, 2], { strides: [2, 1], padding: 'SAME', W_std: 1.1, b_std: 0.2, parameterization: p }), [2, 5, 4, 3]],
    [
      'serial CNN',
      (p) => serial(Conv(3, [2, 2], { W_std: 1.4, b_std: 0.1, parameterization: p }), Relu(), Flatten(), Dense(2, { W_std: 1.2, parameterization: p })),
      [2, 4, 4, 2],
    ],
    ['MLP', (p) => serial(Dense(9, { W_std: 1.3, b_std: 0.5, parameterization: p }), Erf(), Dense(3, { W_std: 0.8, b_std: 0.0, parameterization: p })), [4, 6]],
  ];

  for (const [name, make, shape] of nets) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${name} (${dtype}): bit-identical outputs for the same key`, () => {
        tg.tidy(() => {
          const x = tg.normal(tg.key(99), shape, dtype);
          const ntk = make('ntk');
          const std = make('standard');
          for (const seed of [0, 1, 7]) {
            const a = ntk.apply(ntk.init(tg.key(seed), [-1, ...shape.slice(1)], dtype).params, x) as Tensor;
            const b = std.apply(std.init(tg.key(seed), [-1, ...shape.slice(1)], dtype).params, x) as Tensor;
            expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
          }
        });
      });
    }
  }

  it('standard params are the NTK params scaled by W_std/sqrt(fan_in) and b_std; gradients scale the same way', () => {
    tg.tidy(() => {
      const [W_std, b_std, fanIn] = [1.7, 0.3, 5];
      const ntk = Dense(4, { W_std, b_std });
      const std = Dense(4, { W_std, b_std, parameterization: 'standard' });
      const pn = ntk.init(tg.key(3), [-1, fanIn], 'float64').params as { W: Tensor; b: Tensor };
      const ps = std.init(tg.key(3), [-1, fanIn], 'float64').params as { W: Tensor; b: Tensor };
      const scale = W_std / Math.sqrt(fanIn);
      expect(Array.from(ps.W.dataSync())).toEqual(Array.from(tg.mul(pn.W, scale).dataSync()));
      expect(Array.from(ps.b.dataSync())).toEqual(Array.from(tg.mul(pn.b, b_std).dataSync()));
      // Chain rule: d f / d w = scale * d f / d W, d f / d beta = b_std * d f / d b.
      const x = tg.normal(tg.key(4), [3, fanIn], 'float64');
      const gn = tg.grad((p: typeof pn) => tg.sum(tg.tanh(ntk.apply(p, x))))(pn) as typeof pn;
      const gs = tg.grad((p: typeof ps) => tg.sum(tg.tanh(std.apply(p, x))))(ps) as typeof ps;
      const close = (a: Tensor, b: Tensor) => {
        const av = a.dataSync();
        const bv = b.dataSync();
        av.forEach((v, i) => expect(Math.abs(v - bv[i])).toBeLessThan(1e-14 * Math.max(1, Math.abs(bv[i]))));
      };
      close(gn.W, tg.mul(gs.W, scale));
      close(gn.b, tg.mul(gs.b, b_std));
    });
  });
});

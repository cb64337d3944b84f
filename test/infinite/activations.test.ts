/**
 * The stax activations' kernel maps against independent references, in float64:
 * - every smooth closed form (Gelu, Sin, Cos, Rbf, Exp, Gaussian, Erf / SigmoidLike, Hermite at unit
 *   variance) equals 2-D quadrature of the layer's own apply function (so the kernel and the
 *   finite layer agree on the parameter meanings), T and Tdot, on random covariances;
 * - the kinked ones by exact identities: ABRelu(a, b) = b relu(x) - a relu(-x) expands into the
 *   arc-cosine kernel of ReLU at s12 and -s12; Sign is Sheppard's (2 / pi) asin(c);
 * - apply equals the stax definition elementwise;
 * - ElementwiseNumerical uses the user's derivative and converges to the closed forms.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import {
  ABRelu,
  Abs,
  Cos,
  Dense,
  Elementwise,
  ElementwiseNumerical,
  Erf,
  Exp,
  Gaussian,
  Gelu,
  Hermite,
  LeakyRelu,
  Rbf,
  Sign,
  SigmoidLike,
  Sin,
  abReluKernelMap,
  erfKernelMap,
  expKernelMap,
  functionKernelMap,
  gaussianKernelMap,
  geluKernelMap,
  hermiteKernelMap,
  rbfKernelMap,
  signKernelMap,
  sinKernelMap,
  reluKernelMap,
  serial,
  type KernelLayer,
  type KernelMap,
} from '../../models/index.ts';
import { host } from './host-kernel.ts';
import { monteCarloAgrees } from './monte-carlo-check.ts';

const f64 = (v: number[]) => tg.tensor(v, [v.length], 'float64');

/** Random valid covariances (s11, s12, s22): variances in [0.05, 3], correlations in (-1, 1) with the endpoints included. */
const covariances = fc.array(
  fc.tuple(fc.double({ min: 0.05, max: 3, noNaN: true }), fc.double({ min: 0.05, max: 3, noNaN: true }), fc.oneof(fc.double({ min: -1, max: 1, noNaN: true }), fc.constantFrom(-1, 1, 0))),
  { minLength: 1, maxLength: 12 },
).map((rows) => ({ s11: rows.map((r) => r[0]), s22: rows.map((r) => r[1]), s12: rows.map((r) => r[2] * Math.sqrt(r[0] * r[1])) }));

function evaluate(map: KernelMap, s11: number[], s12: number[], s22: number[]): { t: Float64Array; tdot: Float64Array } {
  return tg.tidy(() => {
    const r = map.expectations(f64(s11), f64(s12), f64(s22), true);
    return { t: Float64Array.from(r.t.dataSync()), tdot: Float64Array.from(r.tdot!.dataSync()) };
  });
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, what: string): void {
  for (let i = 0; i < want.length; i++) {
    const scale = Math.max(1, Math.abs(want[i]));
    if (!(Math.abs(got[i] - want[i]) <= rtol * scale)) throw new Error(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

/** The layer's apply as a plain tensor function (params are null for activations). */
const applyOf = (layer: KernelLayer) => (x: Tensor) => layer.apply(null, x) as Tensor;


describe('smooth closed forms equal quadrature of the layer function', () => {
  // The 'auto' trapezoid rule, except for a growing integrand (exp(b x^2), b > 0), where
  // Gauss-Hermite converges faster; b stays small enough that the nodes quadrature.ts prunes
  // (weights below 1e-17 of the largest) carry a negligible part of the integrand's tail.
  const cases: { name: string; map: KernelMap; layer: KernelLayer; rule?: number }[] = [
    { name: 'Gelu', map: geluKernelMap(), layer: Gelu() },
    { name: 'Sin(a, b, c)', map: sinKernelMap(1.3, 0.7, 0.4), layer: Sin({ a: 1.3, b: 0.7, c: 0.4 }) },
    { name: 'Sin default', map: sinKernelMap(), layer: Sin() },
    { name: 'Cos(a, b, c)', map: sinKernelMap(0.8, 1.2, -0.3 + Math.PI / 2), layer: Cos({ a: 0.8, b: 1.2, c: -0.3 }) },
    { name: 'Rbf(0.6)', map: rbfKernelMap(0.6), layer: Rbf(0.6) },
    { name: 'Exp(a, b)', map: expKernelMap(0.9, 0.5), layer: Exp({ a: 0.9, b: 0.5 }) },
    { name: 'Gaussian default', map: gaussianKernelMap(), layer: Gaussian() },
    { name: 'Gaussian(a, b > 0)', map: gaussianKernelMap(1.4, 0.02), layer: Gaussian({ a: 1.4, b: 0.02 }), rule: 120 },
    { name: 'SigmoidLike', map: erfKernelMap(0.5, 1 / 2.4020563531719796, 0.5), layer: SigmoidLike() },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const quad = functionKernelMap(c.name, applyOf(c.layer), c.rule ?? 'auto');
      fc.assert(
        fc.property(covariances, ({ s11, s12, s22 }) => {
          const a = evaluate(c.map, s11, s12, s22);
          const b = evaluate(quad, s11, s12, s22);
          expectClose(a.t, b.t, 1e-9, `${c.name} T`);
          expectClose(a.tdot, b.tdot, 1e-9, `${c.name} Tdot`);
        }),
        { numRuns: 15 },
      );
    });
  }

  it('Hermite(n) at unit variance (its stated domain): T = c^n and Tdot = n c^(n-1) equal quadrature', () => {
    for (let n = 1; n <= 6; n++) {
      // 16 Gauss-Hermite points integrate polynomials of degree <= 31 exactly (He_n He_n: 2n <= 12).
      const quad = functionKernelMap(`He${n}`, applyOf(Hermite(n)), 16);
      const s12 = [-1, -0.7, -0.2, 0, 0.35, 0.9, 1];
      const ones = s12.map(() => 1);
      const a = evaluate(hermiteKernelMap(n), ones, s12, ones);
      const b = evaluate(quad, ones, s12, ones);
      expectClose(a.t, b.t, 1e-12, `Hermite(${n}) T`);
      expectClose(a.tdot, b.tdot, 1e-12, `Hermite(${n}) Tdot`);
    }
  });
});

describe('kinked activations by exact identities', () => {
  it('ABRelu(a, b) = (a^2 + b^2) J(s12) - 2ab J(-s12), Tdot likewise with J0 (J: the ReLU arc-cosine kernel)', () => {
    fc.assert(
      fc.property(covariances, fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true }), ({ s11, s12, s22 }, a, b) => {
        const got = evaluate(abReluKernelMap(a, b), s11, s12, s22);
        const plus = evaluate(reluKernelMap(), s11, s12, s22);
        const minus = evaluate(reluKernelMap(), s11, s12.map((v) => -v), s22);
        const t = plus.t.map((v, i) => (a * a + b * b) * v - 2 * a * b * minus.t[i]);
        const tdot = plus.tdot.map((v, i) => (a * a + b * b) * v + 2 * a * b * minus.tdot[i]);
        expectClose(got.t, t, 1e-12, 'ABRelu T');
        expectClose(got.tdot, tdot, 1e-12, 'ABRelu Tdot');
      }),
      { numRuns: 30 },
    );
  });

  it("Sign: T = (2 / pi) asin(c) (Sheppard), Tdot = 0; a zero-variance side gives 0", () => {
    fc.assert(
      fc.property(covariances, ({ s11, s12, s22 }) => {
        const got = evaluate(signKernelMap(), s11, s12, s22);
        const want = s12.map((v, i) => (2 / Math.PI) * Math.asin(Math.max(-1, Math.min(1, v / Math.sqrt(s11[i] * s22[i])))));
        expectClose(got.t, want, 1e-12, 'Sign T');
        expect(Array.from(got.tdot).every((v) => v === 0)).toBe(true);
      }),
      { numRuns: 30 },
    );
    expect(evaluate(signKernelMap(), [0], [0], [2]).t[0]).toBe(0);
  });

  it('ABRelu at a zero-variance side follows stax: T = 0, Tdot = (a + b)^2 / 4', () => {
    const r = evaluate(abReluKernelMap(0.3, 1.5), [0, 1], [0, 0], [1, 0]);
    expect(Array.from(r.t)).toEqual([0, 0]);
    expectClose(r.tdot, [0.81, 0.81], 1e-15, 'Tdot');
  });
});

describe('apply equals the stax definitions', () => {
  const xs = [-2.5, -1, -0.3, 0.2, 0.9, 3.1];
  const erf = (v: number) => tg.tidy(() => tg.erf(tg.scalar(v, 'float64')).dataSync()[0]);
  const defs: [KernelLayer, (v: number) => number][] = [
    [ABRelu(-0.4, 1.7), (v) => -0.4 * Math.min(v, 0) + 1.7 * Math.max(v, 0)],
    [LeakyRelu(0.1), (v) => (v < 0 ? 0.1 * v : v)],
    [Abs(), Math.abs],
    [Sign(), Math.sign],
    [Gelu(), (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))],
    [Gelu({ approximate: true }), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
    [Sin({ a: 2, b: 0.5, c: 1 }), (v) => 2 * Math.sin(0.5 * v + 1)],
    [Cos({ a: 2, b: 0.5, c: 1 }), (v) => 2 * Math.cos(0.5 * v + 1)],
    [Rbf(0.3), (v) => Math.SQRT2 * Math.sin(Math.sqrt(0.6) * v + Math.PI / 4)],
    [Exp({ a: 0.5, b: -0.7 }), (v) => 0.5 * Math.exp(-0.7 * v)],
    [Gaussian({ a: 3, b: -0.2 }), (v) => 3 * Math.exp(-0.2 * v * v)],
    [SigmoidLike(), (v) => 0.5 * erf(v / 2.4020563531719796) + 0.5],
    [Hermite(1), (v) => v],
    [Hermite(2), (v) => (v * v - 1) / Math.sqrt(2)],
    [Hermite(3), (v) => (v ** 3 - 3 * v) / Math.sqrt(6)],
    [Hermite(4), (v) => (v ** 4 - 6 * v * v + 3) / Math.sqrt(24)],
    [Hermite(5), (v) => (v ** 5 - 10 * v ** 3 + 15 * v) / Math.sqrt(120)],
    [Hermite(6), (v) => (v ** 6 - 15 * v ** 4 + 45 * v * v - 15) / Math.sqrt(720)],
  ];
  for (const [layer, def] of defs) {
    it(`${layer.name} ${JSON.stringify(layer.hyper)}`, () => {
      const got = tg.tidy(() => (layer.apply(null, tg.tensor(xs, [2, 3], 'float64')) as Tensor).dataSync());
      expectClose(got, xs.map(def), 1e-14, layer.name);
    });
  }

  it('bad hyper-parameters are refused with the layer named', () => {
    expect(() => ABRelu(Number.NaN, 1)).toThrow(/ABRelu: a must be a finite number/);
    expect(() => Hermite(7)).toThrow(/Hermite: degree must be an integer from 1 to 6, got 7/);
    expect(() => Rbf(0)).toThrow(/Rbf: gamma must be > 0/);
    expect(() => ElementwiseNumerical(tg.tanh, 0)).toThrow(/ElementwiseNumerical: deg .* positive integer, got 0/);
    expect(() => Gelu({ approximate: 1 as unknown as boolean })).toThrow(/Gelu: approximate must be a boolean/);
  });
});

describe('activations inside networks', () => {
  const x = tg.normal(tg.key(21), [5, 4], 'float64');
  const x2 = tg.normal(tg.key(22), [3, 4], 'float64');
  const o = { W_std: 1.3, b_std: 0.2 };

  it('ElementwiseNumerical(fn, deg, df) converges to the closed form and uses the given derivative', () => {
    const net = (act: KernelLayer) => serial(Dense(8, o), act, Dense(1, o));
    const closed = host(net(Gelu()).kernel(x, x2));
    const geluFn = applyOf(Gelu());
    const geluDf = (v: Tensor) => tg.add(tg.mul(tg.add(1, tg.erf(tg.mul(v, Math.SQRT1_2))), 0.5), tg.mul(v, tg.mul(tg.exp(tg.mul(tg.mul(v, v), -0.5)), 1 / Math.sqrt(2 * Math.PI))));
    const numerical = host(net(ElementwiseNumerical(geluFn, 80, geluDf)).kernel(x, x2));
    const auto = host(net(ElementwiseNumerical(geluFn, 80)).kernel(x, x2));
    expectClose(numerical.nngp.data, closed.nngp.data, 1e-8, 'nngp');
    expectClose(numerical.ntk!.data, closed.ntk!.data, 1e-8, 'ntk');
    expectClose(auto.ntk!.data, closed.ntk!.data, 1e-8, 'ntk (engine derivative)');
    // A different df changes the NTK (and only the NTK): the user's derivative is the one used.
    const doubled = host(net(ElementwiseNumerical(geluFn, 80, (v) => tg.mul(geluDf(v), 2))).kernel(x, x2));
    expectClose(doubled.nngp.data, closed.nngp.data, 1e-8, 'nngp (doubled df)');
    expect(Math.abs(doubled.ntk!.data[0] - closed.ntk!.data[0])).toBeGreaterThan(1e-3);
  });

  it('Rbf after Dense(W_std = 1) gives the RBF kernel exp(-gamma |x - x\'|^2 / d)', () => {
    const r = host(serial(Dense(1), Rbf(0.7)).kernel(x, x2));
    const X1 = x.arraySync() as number[][];
    const X2 = x2.arraySync() as number[][];
    const want = X1.flatMap((a) => X2.map((b) => Math.exp((-0.7 * a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0)) / 4)));
    expectClose(r.nngp.data, want, 1e-13, 'rbf');
  });

  it('Sign passes no NTK; SigmoidLike is Erf(0.5, 1 / 2.40..., 0.5); Elementwise of the same function agrees', () => {
    const r = host(serial(Dense(6, o), Sign()).kernel(x));
    expect(Array.from(r.ntk!.data).every((v) => v === 0)).toBe(true);
    const a = host(serial(Dense(6, o), SigmoidLike(), Dense(1, o)).kernel(x, x2));
    const b = host(serial(Dense(6, o), Erf({ a: 0.5, b: 1 / 2.4020563531719796, c: 0.5 }), Dense(1, o)).kernel(x, x2));
    expect(Array.from(a.ntk!.data)).toEqual(Array.from(b.ntk!.data));
    const leaky = host(serial(Dense(6, o), LeakyRelu(0.3), Dense(1, o)).kernel(x, x2));
    const viaAB = host(serial(Dense(6, o), ABRelu(0.3, 1), Dense(1, o)).kernel(x, x2));
    expect(Array.from(leaky.ntk!.data)).toEqual(Array.from(viaAB.ntk!.data));
    const quad = host(serial(Dense(6, o), Elementwise(applyOf(Exp({ a: 0.8, b: 0.6 })), 'exp'), Dense(1, o)).kernel(x, x2));
    const closed = host(serial(Dense(6, o), Exp({ a: 0.8, b: 0.6 }), Dense(1, o)).kernel(x, x2));
    expectClose(closed.ntk!.data, quad.ntk!.data, 1e-9, 'Exp ntk');
  });

  it('Monte Carlo over initializations: LeakyRelu, Gelu, Sin, Gaussian, Abs networks', () => {
    const input = tg.slice(x, [0, 0], [4, 4]);
    const mc = { width: 256, samples: 12 };
    monteCarloAgrees((n) => [Dense(n, o), LeakyRelu(0.2), Dense(n, o), Gelu()], input, { ...mc, wrong: (n) => [Dense(n, o), LeakyRelu(-0.2), Dense(n, o), Gelu()] });
    monteCarloAgrees((n) => [Dense(n, o), Sin({ a: 1.2, b: 0.8, c: 0.3 }), Dense(n, o), Gaussian({ a: 1.5, b: -0.4 })], input, { ...mc, wrong: (n) => [Dense(n, o), Sin({ a: 0.8, b: 1.2, c: 0.3 }), Dense(n, o), Gaussian({ a: 1.5, b: -0.4 })] });
    monteCarloAgrees((n) => [Dense(n, o), Abs(), Dense(n, o), Exp({ a: 0.7, b: 0.3 })], input, mc);
  });
});

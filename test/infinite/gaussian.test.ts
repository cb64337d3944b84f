/**
 * The Gaussian expectations behind the nonlinearity rules: Gauss-Hermite nodes, the ReLU and Erf
 * closed forms against independent 2-D quadratures over random 2x2 PSD Sigma, and the generic
 * quadrature path (scalar phi and engine phi with phi' from grad) against closed forms.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { erf } from '../../engine/special/erf.ts';
import * as tg from '../../engine/index.ts';
import { gaussHermite, scaledTrapezoid, type GaussianRule } from '../../models/kernels/gaussian.ts';
import { erfMap, reluMap, tanhMap, tensorFunctionMap } from '../../models/kernels/host-maps.ts';

/** Gauss-Legendre nodes and weights on [-1, 1] (Newton on P_m), for the reference integrals. */
function gaussLegendre(m: number): { x: number[]; w: number[] } {
  const x: number[] = [];
  const w: number[] = [];
  for (let i = 1; i <= m; i++) {
    let z = Math.cos((Math.PI * (i - 0.25)) / (m + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = z;
      for (let k = 2; k <= m; k++) {
        const p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (m * (z * p1 - p0)) / (z * z - 1);
      const dz = p1 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-16) break;
    }
    x.push(z);
    w.push(2 / ((1 - z * z) * dp * dp));
  }
  return { x, w };
}

const GL = gaussLegendre(24);

/**
 * ReLU reference in polar coordinates: with (z1, z2) = r (cos a, sin a), u = r U(a), v = r V(a)
 * (Cholesky), the radial integrals are exact (int r^3 e^{-r^2/2} dr = 2, int r e^{-r^2/2} dr = 1),
 * and the angular one is split at the kinks U = 0, V = 0 and done by Gauss-Legendre on each
 * smooth piece: machine precision, and nothing shared with the arc-cosine formula.
 */
function reluReference(s11: number, s12: number, s22: number): { t: number; tdot: number } {
  const l11 = Math.sqrt(s11);
  const l21 = l11 > 0 ? s12 / l11 : 0;
  const l22 = Math.sqrt(Math.max(0, s22 - l21 * l21));
  const U = (a: number) => l11 * Math.cos(a);
  const V = (a: number) => l21 * Math.cos(a) + l22 * Math.sin(a);
  const cuts = [0, Math.PI / 2, (3 * Math.PI) / 2, 2 * Math.PI];
  const phi0 = Math.atan2(-l21, l22); // V = 0 at phi0 and phi0 + pi
  for (const c of [phi0, phi0 + Math.PI, phi0 + 2 * Math.PI, phi0 - Math.PI]) if (c > 0 && c < 2 * Math.PI) cuts.push(c);
  cuts.sort((a, b) => a - b);
  let t = 0;
  let tdot = 0;
  for (let k = 0; k + 1 < cuts.length; k++) {
    const [a0, a1] = [cuts[k], cuts[k + 1]];
    if (a1 - a0 < 1e-15) continue;
    for (let i = 0; i < GL.x.length; i++) {
      const a = 0.5 * (a1 - a0) * GL.x[i] + 0.5 * (a0 + a1);
      const wt = 0.5 * (a1 - a0) * GL.w[i];
      const u = U(a);
      const v = V(a);
      if (u > 0 && v > 0) {
        t += wt * 2 * u * v;
        tdot += wt;
      }
    }
  }
  return { t: t / (2 * Math.PI), tdot: tdot / (2 * Math.PI) };
}

/**
 * A 2-D tensor-rule reference with the symmetric square root of Sigma (eigen-decomposition,
 * not the library's Cholesky-like map), for smooth phi; `rule` = Gauss-Hermite points or a rule.
 */
function symmetricQuadrature(phi: (x: number) => number, s11: number, s12: number, s22: number, rule: number | GaussianRule = 60): number {
  const { nodes, weights } = typeof rule === 'number' ? gaussHermite(rule) : rule;
  const m = nodes.length;
  const tr = s11 + s22;
  const disc = Math.sqrt(((s11 - s22) / 2) ** 2 + s12 * s12);
  const l1 = Math.max(tr / 2 + disc, 0);
  const l2 = Math.max(tr / 2 - disc, 0);
  const th = 0.5 * Math.atan2(2 * s12, s11 - s22);
  const [c, s] = [Math.cos(th), Math.sin(th)];
  // Sigma^{1/2} = R diag(sqrt l) R^T with R the rotation by th.
  const a = c * c * Math.sqrt(l1) + s * s * Math.sqrt(l2);
  const b = c * s * (Math.sqrt(l1) - Math.sqrt(l2));
  const d = s * s * Math.sqrt(l1) + c * c * Math.sqrt(l2);
  let acc = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const u = a * nodes[i] + b * nodes[j];
      const v = b * nodes[i] + d * nodes[j];
      acc += weights[i] * weights[j] * phi(u) * phi(v);
    }
  }
  return acc;
}

/**
 * Random 2x2 PSD Sigma = A A^T (+ a little ridge or none), including near-degenerate ones; entries
 * of A in [-scale, scale], so variances up to 2 scale^2 + 0.1.
 */
const sigmaArb = (scale: number) =>
  fc
    .tuple(
      fc.double({ min: -scale, max: scale, noNaN: true }),
      fc.double({ min: -scale, max: scale, noNaN: true }),
      fc.double({ min: -scale, max: scale, noNaN: true }),
      fc.double({ min: -scale, max: scale, noNaN: true }),
      fc.constantFrom(0, 1e-3, 0.1),
    )
    .map(([a, b, c, d, r]) => ({ s11: a * a + b * b + r + 1e-3, s12: a * c + b * d, s22: c * c + d * d + r + 1e-3 }));

const one = (v: number) => Float64Array.of(v);

describe('Gauss-Hermite rule (Golub-Welsch)', () => {
  it('integrates polynomials up to degree 2m - 1 exactly against N(0, 1)', () => {
    const doubleFactorial = (k: number): number => (k <= 0 ? 1 : k * doubleFactorial(k - 2));
    for (const m of [1, 2, 3, 7, 20, 48, 80]) {
      const { nodes, weights } = gaussHermite(m);
      expect(nodes.length).toBe(m);
      for (let i = 1; i < m; i++) expect(nodes[i]).toBeGreaterThan(nodes[i - 1]);
      for (let k = 0; k <= Math.min(2 * m - 1, 24); k++) {
        const q = nodes.reduce((s, x, i) => s + weights[i] * x ** k, 0);
        // Round-off scale of the sum: odd moments cancel terms of size sum |w x^k|.
        const scale = nodes.reduce((s, x, i) => s + weights[i] * Math.abs(x) ** k, 0);
        const exact = k % 2 === 1 ? 0 : doubleFactorial(k - 1);
        expect(Math.abs(q - exact)).toBeLessThan(1e-13 * Math.max(1, scale));
      }
    }
  });

  it('rejects an invalid number of points', () => {
    expect(() => gaussHermite(0)).toThrow(/gaussHermite: the number of points/);
    expect(() => gaussHermite(2.5)).toThrow(/gaussHermite/);
  });
});

describe('ReLU closed form vs a 2-D polar quadrature', () => {
  it('T and Tdot agree to 1e-12 over random PSD Sigma', () => {
    fc.assert(
      fc.property(sigmaArb(1.6), ({ s11, s12, s22 }) => {
        const ref = reluReference(s11, s12, s22);
        const { t, tdot } = reluMap().expectations(one(s11), one(s12), one(s22), true);
        expect(Math.abs(t[0] - ref.t)).toBeLessThan(1e-12 * Math.max(1, Math.sqrt(s11 * s22)));
        expect(Math.abs(tdot![0] - ref.tdot)).toBeLessThan(1e-12);
      }),
      { numRuns: 200, seed: 6 },
    );
  });

  it('handles perfectly (anti)correlated and zero-variance inputs', () => {
    const r = reluMap().expectations(Float64Array.of(2, 2, 0), Float64Array.of(2, -2, 0), Float64Array.of(2, 2, 1), true);
    expect(r.t[0]).toBeCloseTo(1, 14); // E[relu(u)^2] = s / 2
    expect(r.tdot![0]).toBeCloseTo(0.5, 14);
    expect(r.t[1]).toBeCloseTo(0, 14);
    expect(r.tdot![1]).toBeCloseTo(0, 14);
    expect(r.t[2]).toBe(0);
    expect(r.tdot![2]).toBe(0);
  });

  it('the generic quadrature converges to it (slowly: the kink)', () => {
    const q = tensorFunctionMap('relu', tg.relu, 120);
    const s = [1.3, 0.4, 0.7].map(one);
    const exact = reluMap().expectations(s[0], s[1], s[2], true);
    const approx = q.expectations(s[0], s[1], s[2], true);
    expect(Math.abs(approx.t[0] - exact.t[0]) / exact.t[0]).toBeLessThan(3e-3);
    expect(Math.abs(approx.tdot![0] - exact.tdot![0]) / exact.tdot![0]).toBeLessThan(2e-2);
  });
});

describe('Erf closed form (a erf(b x) + c) vs 2-D Gauss-Hermite', () => {
  it('T and Tdot agree to 1e-10 over random PSD Sigma and random a, b, c', () => {
    fc.assert(
      fc.property(
        sigmaArb(1.2),
        fc.double({ min: -2, max: 2, noNaN: true }),
        fc.double({ min: 0.2, max: 1.2, noNaN: true }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        ({ s11, s12, s22 }, a, b, c) => {
          const { t, tdot } = erfMap(a, b, c).expectations(one(s11), one(s12), one(s22), true);
          const tRef = symmetricQuadrature((x) => a * erf(b * x) + c, s11, s12, s22, 100);
          const dRef = symmetricQuadrature((x) => ((a * b * 2) / Math.sqrt(Math.PI)) * Math.exp(-b * b * x * x), s11, s12, s22, 100);
          expect(Math.abs(t[0] - tRef)).toBeLessThan(1e-10 * Math.max(1, a * a + c * c));
          expect(Math.abs(tdot![0] - dRef)).toBeLessThan(1e-10 * Math.max(1, a * a * b * b));
        },
      ),
      { numRuns: 50, seed: 7 },
    );
  });

  it('matches PAPER.md at a = b = 1, c = 0: (2/pi) asin(2 s12 / sqrt((1 + 2 s11)(1 + 2 s22))), (4/pi) det(I + 2 Sigma)^(-1/2)', () => {
    const [s11, s12, s22] = [0.8, -0.3, 1.9];
    const { t, tdot } = erfMap().expectations(one(s11), one(s12), one(s22), true);
    expect(t[0]).toBeCloseTo((2 / Math.PI) * Math.asin((2 * s12) / Math.sqrt((1 + 2 * s11) * (1 + 2 * s22))), 15);
    expect(tdot![0]).toBeCloseTo((4 / Math.PI) / Math.sqrt((1 + 2 * s11) * (1 + 2 * s22) - 4 * s12 * s12), 15);
  });
});

describe('generic quadrature', () => {
  it("reproduces the erf closed form to 1e-12 from phi and phi' alone ('auto' rule, any variance; 64-point Gauss-Hermite at variances <= 1.5)", () => {
    const auto = tensorFunctionMap('erf', tg.erf);
    const hermite = tensorFunctionMap('erf', tg.erf, 64);
    fc.assert(
      fc.property(sigmaArb(1.6), ({ s11, s12, s22 }) => {
        const exact = erfMap().expectations(one(s11), one(s12), one(s22), true);
        const approx = auto.expectations(one(s11), one(s12), one(s22), true);
        expect(Math.abs(approx.t[0] - exact.t[0])).toBeLessThan(1e-12);
        expect(Math.abs(approx.tdot![0] - exact.tdot![0])).toBeLessThan(1e-12);
      }),
      { numRuns: 60, seed: 8 },
    );
    fc.assert(
      fc.property(sigmaArb(0.85), ({ s11, s12, s22 }) => {
        const exact = erfMap().expectations(one(s11), one(s12), one(s22), true);
        const approx = hermite.expectations(one(s11), one(s12), one(s22), true);
        expect(Math.abs(approx.t[0] - exact.t[0])).toBeLessThan(1e-11);
        expect(Math.abs(approx.tdot![0] - exact.tdot![0])).toBeLessThan(1e-11);
      }),
      { numRuns: 40, seed: 8 },
    );
  });

  it('the trapezoid rule scales its step to the standard deviation', () => {
    expect(scaledTrapezoid(1).nodes.length).toBe(57);
    expect(scaledTrapezoid(0.1).nodes.length).toBe(35);
    expect(scaledTrapezoid(2).nodes.length).toBe(115);
    const r = scaledTrapezoid(1.7);
    expect(r.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
    expect(r.nodes.reduce((a, x, i) => a + r.weights[i] * x * x, 0)).toBeCloseTo(1, 14);
  });

  it('an engine function with phi\' from tg.grad equals the scalar Tanh path', () => {
    const viaEngine = tensorFunctionMap('tanh', tg.tanh);
    const direct = tanhMap();
    const s11 = Float64Array.of(0.5, 2, 1.2);
    const s12 = Float64Array.of(0.1, -1.5, 1.2);
    const s22 = Float64Array.of(0.9, 1.4, 1.2);
    const a = viaEngine.expectations(s11, s12, s22, true);
    const b = direct.expectations(s11, s12, s22, true);
    for (let i = 0; i < 3; i++) {
      expect(Math.abs(a.t[i] - b.t[i])).toBeLessThan(1e-14);
      expect(Math.abs(a.tdot![i] - b.tdot![i])).toBeLessThan(1e-14);
    }
  });

  it("Tanh ('auto') agrees with a symmetric-root quadrature at half the step (1e-12 for T, 1e-10 for Tdot) at variances up to ~5", () => {
    const sech2 = (v: number) => 1 - Math.tanh(v) ** 2;
    fc.assert(
      fc.property(sigmaArb(1.6), ({ s11, s12, s22 }) => {
        const a = tanhMap().expectations(one(s11), one(s12), one(s22), true);
        const fine = scaledTrapezoid(2 * Math.sqrt(Math.max(s11, s22)));
        expect(Math.abs(a.t[0] - symmetricQuadrature(Math.tanh, s11, s12, s22, fine))).toBeLessThan(1e-12);
        expect(Math.abs(a.tdot![0] - symmetricQuadrature(sech2, s11, s12, s22, fine))).toBeLessThan(1e-10);
      }),
      { numRuns: 25, seed: 9 },
    );
  });

  it('Gauss-Hermite converges to it as points are added, slowly at a large variance (the poles of tanh)', () => {
    const s = [3, 1, 2].map(one);
    const ref = tanhMap().expectations(s[0], s[1], s[2], true);
    const errs = [24, 48, 96, 192].map((m) => {
      const r = tanhMap(m).expectations(s[0], s[1], s[2], true);
      return Math.abs(r.tdot![0] - ref.tdot![0]);
    });
    for (let i = 1; i < errs.length; i++) expect(errs[i]).toBeLessThan(errs[i - 1] / 5);
    expect(errs[3]).toBeLessThan(1e-7);
    expect(errs[1]).toBeGreaterThan(1e-6);
  });

  it('rejects an invalid rule', () => {
    expect(() => tanhMap(1)).toThrow(/quadrature must be 'auto' or a number of Gauss-Hermite points/);
  });

  it('the engine path rejects a function that is not elementwise', () => {
    const bad = tensorFunctionMap('bad', (x) => tg.sum(x), 4);
    expect(() => bad.expectations(one(1), one(0), one(1), false)).toThrow(/bad: the function must be elementwise/);
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dopri5, type OdeRhs } from '../../linearize/ode.ts';

const decay =
  (k: number): OdeRhs =>
  (_t, y, dy) => {
    for (let i = 0; i < y.length; i++) dy[i] = -k * y[i];
  };

// y = (x, v): x'' = -w^2 x.
const oscillator =
  (w: number): OdeRhs =>
  (_t, y, dy) => {
    dy[0] = y[1];
    dy[1] = -w * w * y[0];
  };

describe('dopri5 on problems with known solutions', () => {
  it('exponential decay to tolerance, exact and dense output', () => {
    const times = [0, 0.1, 0.5, 1, 2.5, 5, 10];
    for (const output of ['exact', 'dense'] as const) {
      const sol = dopri5(decay(1.3), 0, new Float64Array([2, -1]), times, { rtol: 1e-11, atol: 1e-14, output });
      expect(sol.times).toEqual(times);
      sol.states.forEach((y, i) => {
        const e = Math.exp(-1.3 * times[i]);
        expect(Math.abs(y[0] - 2 * e)).toBeLessThan(1e-10 * 2 * Math.max(e, 1e-3));
        expect(Math.abs(y[1] + e)).toBeLessThan(1e-10 * Math.max(e, 1e-3));
      });
      expect(sol.states[0]).toEqual(new Float64Array([2, -1]));
    }
  });

  it('law: decay rates and horizons drawn at random stay within tolerance', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 20, noNaN: true }), fc.double({ min: 0.01, max: 5, noNaN: true }), (k, T) => {
        const sol = dopri5(decay(k), 0, new Float64Array([1]), [T / 3, T], { rtol: 1e-10, atol: 1e-13 });
        for (let i = 0; i < 2; i++) {
          const t = sol.times[i];
          const exact = Math.exp(-k * t);
          // Global error of a tolerance-controlled run: a small multiple of tol per unit scale.
          expect(Math.abs(sol.states[i][0] - exact)).toBeLessThan(1e-8 * exact + 1e-11);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('harmonic oscillator over several periods', () => {
    const w = 2;
    const T = 10 * Math.PI; // 10 periods of cos(2t)
    const times = [0.3, 1.7, Math.PI, T];
    for (const output of ['exact', 'dense'] as const) {
      const sol = dopri5(oscillator(w), 0, new Float64Array([1, 0]), times, { rtol: 1e-12, atol: 1e-12, output });
      sol.states.forEach((y, i) => {
        const t = times[i];
        expect(Math.abs(y[0] - Math.cos(w * t))).toBeLessThan(1e-9);
        expect(Math.abs(y[1] + w * Math.sin(w * t))).toBeLessThan(2e-9);
      });
    }
  });

  it('time-dependent right-hand side: y\' = cos(t), y\' = t^4 (5th-order method is exact-ish for polynomials)', () => {
    const sol = dopri5(
      (t, _y, dy) => {
        dy[0] = Math.cos(t);
        dy[1] = t ** 4;
      },
      1,
      new Float64Array([Math.sin(1), 0.2]),
      [2, 4, 7],
      { rtol: 1e-12, atol: 1e-12 },
    );
    sol.states.forEach((y, i) => {
      const t = sol.times[i];
      expect(Math.abs(y[0] - Math.sin(t))).toBeLessThan(1e-10);
      expect(Math.abs(y[1] - t ** 5 / 5) / (t ** 5 / 5)).toBeLessThan(1e-12);
    });
  });

  it('the error shrinks with the tolerance and dense output matches exact stepping', () => {
    const errs = [1e-4, 1e-7, 1e-10].map((tol) => {
      const sol = dopri5(oscillator(3), 0, new Float64Array([1, 0]), [5], { rtol: tol, atol: tol });
      return Math.abs(sol.states[0][0] - Math.cos(15));
    });
    expect(errs[1]).toBeLessThan(errs[0]);
    expect(errs[2]).toBeLessThan(errs[1]);
    expect(errs[2]).toBeLessThan(1e-8);
    const times = Array.from({ length: 200 }, (_, i) => (i + 1) * 0.05);
    const exact = dopri5(oscillator(3), 0, new Float64Array([1, 0]), times, { rtol: 1e-11, atol: 1e-12 });
    const dense = dopri5(oscillator(3), 0, new Float64Array([1, 0]), times, { rtol: 1e-11, atol: 1e-12, output: 'dense' });
    // Dense output needs far fewer steps when output times are many.
    expect(dense.stats.acceptedSteps).toBeLessThan(exact.stats.acceptedSteps);
    times.forEach((t, i) => {
      expect(Math.abs(dense.states[i][0] - Math.cos(3 * t))).toBeLessThan(1e-9);
      expect(Math.abs(exact.states[i][0] - Math.cos(3 * t))).toBeLessThan(1e-9);
    });
  });

  it('FSAL: six right-hand-side evaluations per attempted step plus the start-up ones', () => {
    const sol = dopri5(decay(1), 0, new Float64Array([1]), [3], { rtol: 1e-9 });
    const attempts = sol.stats.acceptedSteps + sol.stats.rejectedSteps;
    expect(sol.stats.rhsEvaluations).toBe(6 * attempts + 2);
    const given = dopri5(decay(1), 0, new Float64Array([1]), [3], { rtol: 1e-9, initialStep: 0.01 });
    expect(given.stats.rhsEvaluations).toBe(6 * (given.stats.acceptedSteps + given.stats.rejectedSteps) + 1);
  });

  it('repeated output times, outputs at t0, and outputs closer than round-off', () => {
    const sol = dopri5(decay(1), 0, new Float64Array([1]), [0, 0, 1, 1, 1 + 1e-16, 2]);
    expect(sol.times).toEqual([0, 0, 1, 1, 1 + 1e-16, 2]);
    expect(sol.states[2][0]).toBe(sol.states[3][0]);
    expect(Math.abs(sol.states[5][0] - Math.exp(-2))).toBeLessThan(1e-8);
    expect(dopri5(decay(1), 0, new Float64Array([1]), []).times).toEqual([]);
  });

  it('respects maxStep', () => {
    const sol = dopri5(decay(0.001), 0, new Float64Array([1]), [10], { maxStep: 0.5 });
    expect(sol.stats.acceptedSteps).toBeGreaterThanOrEqual(20);
  });
});

describe('dopri5 errors', () => {
  it('throws a clear error past maxSteps', () => {
    expect(() => dopri5(oscillator(50), 0, new Float64Array([1, 0]), [100], { maxSteps: 50 })).toThrow(
      /dopri5: exceeded maxSteps=50 at t=.*stiff or the tolerances too tight/,
    );
  });

  it('rejects invalid inputs', () => {
    const y0 = new Float64Array([1]);
    expect(() => dopri5(decay(1), 0, y0, [2, 1])).toThrow(/dopri5: output times must be finite, non-decreasing/);
    expect(() => dopri5(decay(1), 0, y0, [Infinity])).toThrow(/dopri5: output times must be finite/);
    expect(() => dopri5(decay(1), 1, y0, [0.5])).toThrow(/>= t0=1/);
    expect(() => dopri5(decay(1), 0, new Float64Array([NaN]), [1])).toThrow(/dopri5: y0\[0\] is not finite/);
    expect(() => dopri5(decay(1), 0, y0, [1], { rtol: 0, atol: 0 })).toThrow(/dopri5: tolerances/);
    expect(() => dopri5((_t, _y, dy) => void (dy[0] = NaN), 0, y0, [1])).toThrow(/dopri5: right-hand side is not finite at t0=0/);
  });

  it('a solution that blows up ends in a clear error instead of NaN', () => {
    // y' = y^2, y(0) = 1 blows up at t = 1.
    expect(() => dopri5((_t, y, dy) => void (dy[0] = y[0] * y[0]), 0, new Float64Array([1]), [2])).toThrow(
      /dopri5: (step size underflow|exceeded maxSteps)/,
    );
  });
});

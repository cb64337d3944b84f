/** The power-law fits of the figure suite on synthetic power laws, and the t quantiles against quadrature. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../data/split.ts';
import { fitPowerLaw, meanInterval, slopeOverSeeds, studentT975 } from '../../cli/figures/fit.ts';

/** Standard normal draws (Box-Muller) from the repository's seeded generator. */
function gaussian(rng: Rng): () => number {
  return () => {
    const u = (rng.nextUint32() + 1) / 4294967297;
    const v = rng.nextUint32() / 4294967296;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** P(T <= t) for Student's t with df degrees of freedom, by Simpson's rule on the density (independent of the table). */
function tCdf(t: number, df: number): number {
  const logC = lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * Math.log(df * Math.PI);
  const pdf = (x: number) => Math.exp(logC - ((df + 1) / 2) * Math.log1p((x * x) / df));
  const m = 20000;
  const h = t / m;
  let s = pdf(0) + pdf(t);
  for (let i = 1; i < m; i++) s += (i % 2 ? 4 : 2) * pdf(i * h);
  return 0.5 + (s * h) / 3;
}

function lgamma(x: number): number {
  // Lanczos (g = 7, n = 9): 1e-13 relative for x > 0.5.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

describe('studentT975', () => {
  it('is the 97.5% quantile of the t distribution (quadrature of the density) for every df', () => {
    for (const df of [1, 2, 3, 5, 10, 29, 30, 31, 45, 100, 1000]) expect(Math.abs(tCdf(studentT975(df), df) - 0.975)).toBeLessThan(2e-4);
  });
  it('refuses a non-integer or non-positive df', () => {
    expect(() => studentT975(0)).toThrow(/studentT975: degrees of freedom must be a positive integer, got 0/);
    expect(() => studentT975(2.5)).toThrow(/got 2.5/);
  });
});

describe('fitPowerLaw', () => {
  it('recovers the exponent and prefactor of an exact power law, any x values', () => {
    fc.assert(fc.property(
      fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
      fc.uniqueArray(fc.double({ min: 1, max: 1e5, noNaN: true }), { minLength: 2, maxLength: 12, comparator: (a, b) => Math.abs(Math.log(a / b)) < 1e-3 }),
      (slope, c, xs) => {
        const f = fitPowerLaw(xs, xs.map((x) => c * x ** slope));
        expect(f.slope).toBeCloseTo(slope, 8);
        expect(f.intercept).toBeCloseTo(Math.log(c), 6);
        if (xs.length > 2) expect(f.slopeStdErr).toBeLessThan(1e-7);
        else expect(f.slopeStdErr).toBeNaN();
      },
    ));
  });

  it('names the bad point or the degenerate x', () => {
    expect(() => fitPowerLaw([1, 2, 4], [1, 0, 2])).toThrow('fitPowerLaw: point 1 (x = 2, y = 0) is not positive and finite; a power law needs both');
    expect(() => fitPowerLaw([3, 3], [1, 2])).toThrow(/all x values are equal \(3\)/);
    expect(() => fitPowerLaw([1], [1])).toThrow(/at least 2 points/);
    expect(() => fitPowerLaw([1, 2], [1])).toThrow(/2 x values but 1 y values/);
  });
});

describe('slopeOverSeeds', () => {
  const xs = [32, 64, 128, 256, 512, 1024];

  it('gives the common slope with a zero-width interval when every seed is an exact power law', () => {
    const e = slopeOverSeeds(xs, [2, 0.5, 7].map((c) => xs.map((x) => c * x ** -0.7)));
    expect(e.method).toBe('seeds');
    expect(e.slope).toBeCloseTo(-0.7, 10);
    expect(e.interval![1] - e.interval![0]).toBeLessThan(1e-9);
  });

  // Coverage: noisy power laws y = C n^s exp(sigma z) with a known s; the 95% interval must hold s
  // in about 95% of repetitions (binomial sd over 600 trials is 0.9%, so [0.92, 0.98] is > 3 sd).
  it.each([
    ['over seeds (Student t over 4 seeds)', 4],
    ['from one seed (OLS interval)', 1],
  ])('its 95 percent interval covers the true slope in about 95 percent of trials: %s', (_, seeds) => {
    const z = gaussian(new Rng(12345 + seeds));
    const trials = 600;
    let covered = 0;
    for (let t = 0; t < trials; t++) {
      const ys = Array.from({ length: seeds }, () => {
        const c = Math.exp(z());
        return xs.map((x) => c * x ** -1 * Math.exp(0.2 * z()));
      });
      const e = slopeOverSeeds(xs, ys);
      expect(e.method).toBe(seeds > 1 ? 'seeds' : 'ols');
      if (e.interval![0] <= -1 && -1 <= e.interval![1]) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.92);
    expect(covered / trials).toBeLessThan(0.98);
  });

  it('has no interval from one seed and two points, and refuses ragged rows', () => {
    expect(slopeOverSeeds([1, 2], [[1, 0.5]])).toMatchObject({ slope: -1, interval: null, method: 'none' });
    expect(() => slopeOverSeeds([1, 2, 4], [[1, 2, 3], [1, 2]])).toThrow('slopeOverSeeds: seed 1 has 2 values for 3 x values');
    expect(() => slopeOverSeeds([1, 2], [])).toThrow(/no seeds/);
  });
});

describe('meanInterval', () => {
  it('is the t interval of the mean, centred on it', () => {
    const m = meanInterval([1, 2, 3, 4]);
    const half = (studentT975(3) * Math.sqrt(5 / 3)) / 2;
    expect(m.mean).toBe(2.5);
    expect(m.interval![0]).toBeCloseTo(2.5 - half, 12);
    expect(m.interval![1]).toBeCloseTo(2.5 + half, 12);
    expect(meanInterval([7])).toEqual({ mean: 7, interval: null });
  });
});

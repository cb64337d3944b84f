/** Verdicts of the claim table: each one reached exactly where its rule says. */
import { describe, expect, it } from 'vitest';
import { boundClaim, measuredClaim, slopeClaim } from '../../cli/figures/claims.ts';
import type { SlopeEstimate } from '../../cli/figures/fit.ts';

const estimate = (slope: number, interval: [number, number] | null, method: SlopeEstimate['method'] = 'seeds'): SlopeEstimate => ({ slope, interval, method, perSeed: [slope, slope, slope], xs: [1, 2, 4] });

describe('slopeClaim', () => {
  it('agrees when a narrow interval holds the paper value', () => {
    const c = slopeClaim('S5', 'rmse ~ 1/n', -1, estimate(-0.95, [-1.1, -0.8]));
    expect(c).toMatchObject({ verdict: 'agrees', measured: -0.95, interval: [-1.1, -0.8], paperValue: -1, paper: '-1' });
    expect(c.words).toMatch(/^agrees: the 95% interval over 3 seeds contains the paper's -1$/);
  });
  it('is inconclusive when the interval is too wide or missing', () => {
    expect(slopeClaim('1', 'x', -1, estimate(-0.5, [-1.6, 0.6])).verdict).toBe('inconclusive');
    expect(slopeClaim('1', 'x', -1, estimate(-0.5, null, 'none')).verdict).toBe('inconclusive');
  });
  it('roughly agrees within the tolerance, disagrees beyond it, and says which way', () => {
    expect(slopeClaim('1', 'x', -1, estimate(-0.9, [-0.95, -0.85])).verdict).toBe('roughly');
    const c = slopeClaim('1', 'x', -1, estimate(-0.53, [-0.6, -0.46]));
    expect(c.verdict).toBe('disagrees');
    expect(c.words).toContain('shallower than the paper');
    expect(slopeClaim('1', 'x', -0.5, estimate(-1, [-1.1, -0.9])).words).toContain('steeper');
  });
});

describe('boundClaim and measuredClaim', () => {
  it('holds when the whole interval is below the bound, is inconclusive when only the mean is, fails otherwise', () => {
    expect(boundClaim('3', 'ratio < 1', 'ratio < 1', 0.5, [0.4, 0.6], 1, 'ratio').verdict).toBe('holds');
    expect(boundClaim('3', 'ratio < 1', 'ratio < 1', 0.8, [0.4, 1.2], 1, 'ratio').verdict).toBe('inconclusive');
    expect(boundClaim('3', 'ratio < 1', 'ratio < 1', 1.1, [0.9, 1.3], 1, 'ratio').verdict).toBe('fails');
    expect(boundClaim('3', 'exact', 'exact', 2e-5, null, 1e-4, 'difference').verdict).toBe('holds');
  });
  it('reports a measurement without a verdict on the paper', () => {
    expect(measuredClaim('S5', 'vs depth', 'plotted', estimate(0.3, [0.1, 0.5]))).toMatchObject({ verdict: 'measured', paperValue: null, measured: 0.3 });
  });
});

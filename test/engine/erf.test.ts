import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { erf, erfc } from '../../engine/special/erf.ts';

/** 50-digit mpmath values rounded to float64: [x, erf(x), erfc(x)] (fixtures/erf-reference.py writes them). */
const { rows } = JSON.parse(readFileSync(new URL('./fixtures/erf-reference.json', import.meta.url), 'utf8')) as { rows: [number, number, number][] };

/** The spacing of float64 values at |r| (2^-1074 among subnormals). */
function ulp(r: number): number {
  const a = Math.abs(r);
  return a < 2 ** -1022 ? 2 ** -1074 : 2 ** (Math.floor(Math.log2(a)) - 52);
}

const errorUlps = (got: number, want: number) => (got === want ? 0 : Math.abs(got - want) / ulp(want));

describe('erf / erfc (float64, fdlibm port)', () => {
  it(`match 50-digit mpmath values to 2 ulp at ${rows.length} points over every branch, both signs, tails and subnormals`, () => {
    expect(rows.length).toBeGreaterThan(500);
    for (const [x, e, c] of rows) {
      expect(errorUlps(erf(x), e), `erf(${x}) = ${erf(x)}, want ${e}`).toBeLessThanOrEqual(2);
      expect(errorUlps(erfc(x), c), `erfc(${x}) = ${erfc(x)}, want ${c}`).toBeLessThanOrEqual(2);
    }
    // The table reaches the erfc tail where erf is 1 but erfc is still a normal number.
    expect(rows.some(([x, e, c]) => x > 20 && e === 1 && c > 1e-300 && c < 1e-200)).toBe(true);
  });

  it('keeps the special values: signed zeros, infinities, NaN', () => {
    expect(Object.is(erf(0), 0)).toBe(true);
    expect(Object.is(erf(-0), -0)).toBe(true);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erfc(0)).toBe(1);
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erf(NaN)).toBeNaN();
    expect(erfc(NaN)).toBeNaN();
  });

  it('erf is odd (exactly), erf + erfc = 1 and erfc(x) + erfc(-x) = 2 to rounding, erf is monotone', () => {
    const real = fc.double({ min: -30, max: 30, noNaN: true });
    fc.assert(
      fc.property(real, real, (x, y) => {
        expect(erf(-x)).toBe(-erf(x));
        expect(Math.abs(erf(x) + erfc(x) - 1)).toBeLessThanOrEqual(2 ** -52);
        expect(Math.abs(erfc(x) + erfc(-x) - 2)).toBeLessThanOrEqual(2 ** -51);
        if (x < y) expect(erf(x)).toBeLessThanOrEqual(erf(y));
      }),
      { numRuns: 2000 },
    );
  });
});

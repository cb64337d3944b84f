import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { threefry2x32 } from '../../engine/random.ts';

describe('PRNG', () => {
  it('Threefry-2x32 (20 rounds) matches the Random123 known-answer vectors', () => {
    const out = new Uint32Array(2);
    const hex = () => Array.from(out, (v) => v.toString(16).padStart(8, '0')).join(' ');
    threefry2x32(0, 0, 0, 0, out, 0);
    expect(hex()).toBe('6b200159 99ba4efe');
    threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out, 0);
    expect(hex()).toBe('1cb996fc bb002be7');
    threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3, out, 0);
    expect(hex()).toBe('c4923a9c 483df7a0');
  });

  it('is deterministic per key, and split keys give different streams', () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 31 }), (seed) => {
      const k = tg.key(seed);
      const a = tg.normal(k, [5]).dataSync();
      const b = tg.normal(k, [5]).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
      const [k1, k2] = tg.split(k);
      expect(Array.from(tg.uniform(k1, [4]).dataSync())).not.toEqual(Array.from(tg.uniform(k2, [4]).dataSync()));
    }), { numRuns: 20 });
  });

  it('float32 and float64 draw the same numbers (uniforms exactly)', () => {
    const k = tg.key(7);
    const u32 = tg.uniform(k, [100], 'float32').dataSync();
    const u64 = tg.uniform(k, [100], 'float64').dataSync();
    expect(Array.from(u32)).toEqual(Array.from(u64));
    const n32 = tg.normal(k, [100], 'float32').dataSync();
    const n64 = tg.normal(k, [100], 'float64').dataSync();
    n32.forEach((v, i) => expect(v).toBe(Math.fround(n64[i])));
  });

  it('normal samples have mean 0 and variance 1; uniforms lie in [low, high)', () => {
    const n = 200_000;
    const z = tg.normal(tg.key(3), [n], 'float64').dataSync();
    let m = 0;
    let v = 0;
    for (const x of z) m += x / n;
    for (const x of z) v += (x - m) ** 2 / n;
    // 5 standard errors.
    expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(v - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    const u = tg.uniform(tg.key(4), [10_000], 'float64', -2, 3).dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(3);
  });

  it('rejects bad seeds', () => {
    expect(() => tg.key(-1)).toThrow('key: seed must be an integer in [0, 2^32), got -1');
    expect(() => tg.split(tg.key(0), 0)).toThrow(/split: n must be a positive integer/);
  });
});

/**
 * Threefry-2x32 (20 rounds) in WGSL, bit-identical to engine/random.ts: thread j encrypts the
 * counter (j, 0) under the key and produces words 2j and 2j+1. From them:
 * - uniform: (bits >> 9) * 2^-23, exactly the CPU's values; low + (high - low) u is then
 *   computed in f32 (exact for [0, 1); within an ulp of the CPU's float64-then-round otherwise);
 * - normal: Box-Muller on the pair, r = sqrt(-2 log1p(-u0)) (log(1 - u0) would lose all
 *   relative accuracy for small u0), angle 2 pi u1. The angle is
 *   reduced to an octant exactly (u1 is a multiple of 2^-23) and cos/sin are short polynomials
 *   there, so the result does not depend on a driver's sin/cos of large arguments.
 */
import { bindings, elementGrid, ENTRY_PARAMS, f32Literal, lazyProgram, LINEAR_GROUP, UniformBlock } from './common.ts';
import { helperCode } from './elementwise.ts';
import type { ShaderProgram } from './program.ts';

const WORKGROUP = 64;
const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

/** The unrolled 20 rounds with key injections after every 4, as in threefry2x32(). */
function threefryCode(): string {
  const lines: string[] = [];
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      lines.push(`x0 = x0 + x1; x1 = rotl(x1, ${ROTATIONS[(block % 2) * 4 + r]}u) ^ x0;`);
    }
    lines.push(`x0 = x0 + ks[${(block + 1) % 3}]; x1 = x1 + ks[${(block + 2) % 3}] + ${block + 1}u;`);
  }
  return `fn rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }

fn threefry(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {
  let ks = array<u32, 3>(k0, k1, k0 ^ k1 ^ 0x1bd11bdau);
  var x0 = c0 + k0;
  var x1 = c1 + k1;
  ${lines.join('\n  ')}
  return vec2<u32>(x0, x1);
}

fn to_unit(bits: u32) -> f32 { return f32(bits >> 9u) * ${f32Literal(2 ** -23)}; }`;
}

export type RandomKind = 'uniform' | 'normal';

/**
 * n samples from key (k0, k1): uniform in [low, high) or standard normal.
 * @example randomProgram('normal', 0, 42, 1000)
 */
export function randomProgram(kind: RandomKind, k0: number, k1: number, n: number, low = 0, high = 1): ShaderProgram {
  const pairs = Math.ceil(n / 2);
  const u = new UniformBlock().u32('n', n).u32('pairs', pairs).u32('k0', k0).u32('k1', k1);
  // [0, 1) skips the affine map so those uniforms are the CPU's bit for bit, whatever the compiler fuses.
  const affine = kind === 'uniform' && !(low === 0 && high === 1);
  if (affine) u.f32('low', low).f32('span', high - low);
  const key = `random:${kind}${affine ? ':affine' : ''}`;
  return lazyProgram(key, 0, u.words(), elementGrid(pairs, WORKGROUP), n, () => {
    const emit = kind === 'normal'
      ? `let r = sqrt(-2.0 * tg_log1p(-to_unit(w.x)));
  let cs = cos_sin_2pi(to_unit(w.y));
  let v = vec2<f32>(r * cs.x, r * cs.y);`
      : affine
        ? 'let v = vec2<f32>(u.low + u.span * to_unit(w.x), u.low + u.span * to_unit(w.y));'
        : 'let v = vec2<f32>(to_unit(w.x), to_unit(w.y));';
    return `${bindings(0)}
${u.struct()}

${threefryCode()}
${kind === 'normal' ? `${helperCode('tg_log1p(')}\n${COS_SIN}` : ''}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let j = group * ${WORKGROUP}u + lid;
  if (j >= u.pairs) { return; }
  let w = threefry(u.k0, u.k1, j, 0u);
  ${emit}
  out[2u * j] = v.x;
  if (2u * j + 1u < u.n) { out[2u * j + 1u] = v.y; }
}
`;
  });
}

/**
 * (cos 2 pi t, sin 2 pi t) for t in [0, 1): t - q/4 (q the nearest quarter) is exact for t on
 * the 2^-23 grid, leaving |angle| <= pi/4, where degree-8/9 Taylor polynomials err below 4e-9.
 */
const COS_SIN = `
fn cos_sin_2pi(t: f32) -> vec2<f32> {
  let q = round(4.0 * t);
  let a = 6.2831855 * (t - 0.25 * q);
  let a2 = a * a;
  let s = a * (1.0 + a2 * (-0.16666667 + a2 * (0.008333334 + a2 * (-0.0001984127 + a2 * 0.0000027557319))));
  let c = 1.0 + a2 * (-0.5 + a2 * (0.041666668 + a2 * (-0.0013888889 + a2 * 0.0000248015873)));
  let quadrant = u32(q) & 3u;
  if (quadrant == 0u) { return vec2<f32>(c, s); }
  if (quadrant == 1u) { return vec2<f32>(-s, c); }
  if (quadrant == 2u) { return vec2<f32>(-c, -s); }
  return vec2<f32>(s, -c);
}`;

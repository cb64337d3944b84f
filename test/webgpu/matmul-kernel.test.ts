/**
 * The WGSL matmul generator (kernels/wgsl/matmul.ts) against a float64 triple loop: random sizes
 * that do and do not divide the tile, every transpose combination, vec4-aligned and unaligned
 * operands, broadcast batch axes, the skinny split-K shape that tfjs-webgpu gets wrong, with and
 * without subgroups. Runs on the device through a minimal runner, not the backend.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { acquireDevice } from '../../kernels/webgpu/device.ts';
import { matmulProgram } from '../../kernels/wgsl/matmul.ts';
import { describeGpu } from './gpu-available.ts';
import { randomArray, runProgram, supportsSubgroupPrograms } from './kernel-runner.ts';

interface Case {
  aShape: number[];
  bShape: number[];
  transposeA: boolean;
  transposeB: boolean;
  outShape: number[];
  seed: number;
}

const size = (s: readonly number[]) => s.reduce((x, y) => x * y, 1);

/** Float64 reference and the per-output scale sum |a||b| (rounding error is relative to it). */
function reference(t: Case, a: Float32Array, b: Float32Array): { ref: Float64Array; scale: Float64Array } {
  const { aShape, bShape, transposeA: tA, transposeB: tB, outShape } = t;
  const r = outShape.length;
  const [m, n] = [outShape[r - 2], outShape[r - 1]];
  const k = tA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const batch = outShape.slice(0, -2);
  const ref = new Float64Array(size(outShape));
  const scale = new Float64Array(ref.length);
  const offset = (shape: number[], bi: number) => {
    const lead = shape.slice(0, -2);
    let rest = bi;
    let off = 0;
    let mat = shape[shape.length - 2] * shape[shape.length - 1];
    const idx = batch.map(() => 0);
    for (let i = batch.length - 1; i >= 0; i--) {
      idx[i] = rest % batch[i];
      rest = Math.floor(rest / batch[i]);
    }
    for (let i = lead.length - 1; i >= 0; i--) {
      off += (lead[i] === 1 ? 0 : idx[i + batch.length - lead.length]) * mat;
      mat *= lead[i];
    }
    return off;
  };
  for (let bi = 0; bi < size(batch); bi++) {
    const ao = offset(aShape, bi);
    const bo = offset(bShape, bi);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let sa = 0;
        for (let p = 0; p < k; p++) {
          const av = tA ? a[ao + p * m + i] : a[ao + i * k + p];
          const bv = tB ? b[bo + j * k + p] : b[bo + p * n + j];
          s += av * bv;
          sa += Math.abs(av * bv);
        }
        ref[bi * m * n + i * n + j] = s;
        scale[bi * m * n + i * n + j] = sa;
      }
    }
  }
  return { ref, scale };
}

/** Runs the case on the device; '' when every output is within 1e-4 * sum |a||b|. */
async function mismatch(device: GPUDevice, t: Case, subgroups: boolean, rows?: 8 | 16): Promise<string> {
  const a = randomArray(size(t.aShape), t.seed);
  const b = randomArray(size(t.bShape), t.seed + 1);
  const p = matmulProgram(t.aShape, t.bShape, t, t.outShape, { subgroups, rows });
  const got = await runProgram(device, p, [a, b]);
  const { ref, scale } = reference(t, a, b);
  if (got.length !== ref.length) return `length ${got.length}, expected ${ref.length}`;
  for (let i = 0; i < ref.length; i++) {
    if (!(Math.abs(got[i] - ref[i]) <= 1e-4 * scale[i] + 1e-30)) {
      return `out[${i}] = ${got[i]}, expected ${ref[i]} (program ${p.key}, case ${JSON.stringify(t)})`;
    }
  }
  return '';
}

/** Sizes 1..70, biased towards multiples of 4 and of the tile so aligned and full paths run too. */
const dim = (max: number) => fc.oneof(fc.integer({ min: 1, max }), fc.integer({ min: 1, max: Math.floor(max / 4) }).map((x) => 4 * x), fc.constantFrom(8, 32, 64));

function matCase(m: number, n: number, k: number, tA: boolean, tB: boolean, seed: number, aLead: number[] = [], bLead: number[] = [], batch: number[] = []): Case {
  return {
    aShape: [...aLead, ...(tA ? [k, m] : [m, k])],
    bShape: [...bLead, ...(tB ? [n, k] : [k, n])],
    transposeA: tA,
    transposeB: tB,
    outShape: [...batch, m, n],
    seed,
  };
}

const plainCase = (max: number) =>
  fc.tuple(dim(max), dim(max), dim(max), fc.boolean(), fc.boolean(), fc.nat(1e6)).map(([m, n, k, tA, tB, seed]) => matCase(m, n, k, tA, tB, seed));

/** An output batch of rank 1..3 and operands that keep a suffix of it with some axes at 1. */
const batchCase = fc
  .tuple(
    fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
    fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    fc.nat(3), fc.nat(3),
    dim(20), dim(20), dim(20), fc.boolean(), fc.boolean(), fc.nat(1e6),
  )
  .map(([batch, onesA, onesB, dropA, dropB, m, n, k, tA, tB, seed]) => {
    const lead = (ones: boolean[], drop: number) => batch.slice(Math.min(drop, batch.length)).map((d, i) => (ones[i] ? 1 : d));
    return matCase(m, n, k, tA, tB, seed, lead(onesA, dropA), lead(onesB, dropB), batch);
  });

await describeGpu('WGSL matmul kernel', () => {
  const modes = async (): Promise<{ device: GPUDevice; modes: boolean[] }> => {
    const { device } = await acquireDevice();
    const sg = supportsSubgroupPrograms(device);
    if (!sg) console.warn('matmul-kernel: the device has no subgroups of >= 8 invocations; testing the direct path only');
    return { device, modes: sg ? [false, true] : [false] };
  };

  it('matches the float64 reference for random sizes 1..70, all transposes', async () => {
    const { device, modes: ms } = await modes();
    for (const sg of ms) {
      await fc.assert(fc.asyncProperty(plainCase(70), async (t) => {
        expect(await mismatch(device, t, sg)).toBe('');
      }), { numRuns: 20 });
    }
  });

  it('matches for sizes up to 300 that do not divide the tile', async () => {
    const { device, modes: ms } = await modes();
    const big = fc.tuple(fc.integer({ min: 100, max: 300 }), fc.integer({ min: 100, max: 300 }), fc.integer({ min: 100, max: 300 }), fc.boolean(), fc.boolean(), fc.nat(1e6))
      .map(([m, n, k, tA, tB, seed]) => matCase(m, n, k, tA, tB, seed));
    for (const sg of ms) await fc.assert(fc.asyncProperty(big, async (t) => {
        expect(await mismatch(device, t, sg)).toBe('');
      }), { numRuns: 4 });
  });

  it('broadcasts batch axes (stride 0) for any operand ranks', async () => {
    const { device, modes: ms } = await modes();
    for (const sg of ms) await fc.assert(fc.asyncProperty(batchCase, async (t) => {
        expect(await mismatch(device, t, sg)).toBe('');
      }), { numRuns: 15 });
  });

  it('matches with 16-row tiles (two rows per lane, the subgroup path for large m)', async () => {
    const { device, modes: ms } = await modes();
    if (!ms.includes(true)) return;
    await fc.assert(fc.asyncProperty(fc.oneof(plainCase(70), batchCase), async (t) => {
      expect(await mismatch(device, t, true, 16)).toBe('');
    }), { numRuns: 12 });
  });

  it('covers every transpose pair on aligned, tile-multiple shapes and on ragged ones', async () => {
    const { device, modes: ms } = await modes();
    for (const sg of ms) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          // 2050 rows: the generator's own choice of 16-row tiles with subgroups, with a ragged edge.
          for (const [m, n, k] of [[64, 64, 64], [16, 32, 40], [13, 35, 9], [3, 5, 7], [2050, 36, 12]]) {
            expect(await mismatch(device, matCase(m, n, k, tA, tB, m + n + k), sg)).toBe('');
          }
        }
      }
    }
  });

  it('gets the skinny split-K shape [16,4096] x [4096,16] right (tfjs-webgpu does not on lavapipe)', async () => {
    const { device, modes: ms } = await modes();
    for (const sg of ms) {
      expect(await mismatch(device, matCase(16, 16, 4096, false, false, 7), sg)).toBe('');
      expect(await mismatch(device, matCase(16, 16, 4096, true, true, 8), sg)).toBe('');
      expect(await mismatch(device, matCase(1, 3, 5000, false, true, 9), sg)).toBe('');
    }
  });

  it('writes zeros for an empty inner dimension', async () => {
    const { device, modes: ms } = await modes();
    for (const sg of ms) {
      const p = matmulProgram([5, 0], [0, 6], { transposeA: false, transposeB: false }, [5, 6], { subgroups: sg });
      expect(Array.from(await runProgram(device, p, [new Float32Array(0), new Float32Array(0)]))).toEqual(new Array(30).fill(0));
    }
  });
});

it('keys hold flags, not sizes: shapes with the same alignment and edges share a program', () => {
  const p = (m: number, n: number, k: number, batch: number[] = []) =>
    matmulProgram([...batch, m, k], [k, n], { transposeA: false, transposeB: false }, [...batch, m, n]);
  expect(p(40, 44, 36).key).toBe(p(48, 52, 44).key);
  expect(p(40, 44, 36).code).toBe(p(48, 52, 44).code);
  expect(p(40, 44, 36, [3]).key).toBe(p(8, 12, 4, [7]).key);
  expect(p(40, 44, 36).key).not.toBe(p(40, 44, 37).key); // K % 4: unaligned A and a K tail
  expect(p(40, 64, 36).key).not.toBe(p(40, 44, 36).key); // N % 32: no column guards
  // Shapes live in the uniform block: [m, n, k, tilesM, tilesN, tiles, kFull, 0].
  expect(Array.from(p(40, 44, 37).uniforms.slice(0, 8))).toEqual([40, 44, 37, 5, 2, 10, 36, 0]);
});

it('names the shapes when they do not fit', () => {
  expect(() => matmulProgram([3, 4], [5, 2], { transposeA: false, transposeB: false }, [3, 2])).toThrow(/matmul \(wgsl\).*\[3,4\] x \[5,2\]/);
  expect(() => matmulProgram([2, 3, 4], [3, 4, 2], { transposeA: false, transposeB: false }, [2, 3, 2])).toThrow(/batch axes do not broadcast/);
});

/**
 * The GEMM core shared by matmul.ts and conv.ts (implicit GEMM): C[M, N] = A[M, K] B[K, N].
 *
 * Why this shape of kernel (measured on lavapipe, the software Vulkan driver we run on, 2 cores):
 * lavapipe runs 8 invocations as the 8 lanes of one AVX2 vector, and every storage or workgroup
 * load whose index is not a compile-time constant becomes a per-lane scalar loop with a bounds
 * check: ~10-13 instructions per lane and component, against ~0.3 per lane for a multiply-add.
 * Loads are the whole cost, so the kernel maximizes multiply-adds per loaded lane-element:
 *   - a workgroup is 8 lanes (one vector) and owns a TILE_M x TILE_N = 8 x 32 tile of C; every
 *     lane holds 8 rows x 4 columns (eight vec4 accumulators), loading B a vec4 at a time;
 *   - the 8 lanes share their rows, so the A values are the same in every lane. With subgroups
 *     (`GemmOptions.subgroups`) lane l loads row l's next 8 K-values (two vec4) and
 *     subgroupBroadcast hands each value to all lanes (one cheap permute), so every A element is
 *     loaded once instead of once per lane; without subgroups each lane loads A itself;
 *   - no workgroup memory and no barriers: a barrier makes lavapipe run each lane group as a
 *     coroutine whose frame lives in memory, and shared-memory loads are per-lane loops too.
 *     A tfjs-style 32x32 shared-memory tile (4x4 per thread) measured 790 ms of CPU for a 768^3
 *     product, this kernel 374 ms without subgroups and 191-212 ms with them (one lavapipe thread).
 * Integer division is scalarized per lane (x86 has no vector divide), so it appears only once per
 * workgroup, never inside the K loop.
 *
 * End to end (upload + dispatch + readback, median, same process as tfjs-backend-webgpu 4.22 on
 * the same lavapipe; 2 shared cores, so absolute times swing ~1.5x with the machine's load):
 *   matmul 1024^3: tfjs 930 ms (2.3 GFLOP/s), ours 630 ms without subgroups (3.4), 356 ms with (6.0)
 *   matmul 2048^3: tfjs 8250 ms (2.1), ours 4750 ms (3.6), 1890 ms (9.1)
 *   conv 16x32x32x16 -> 32, 3x3 SAME, forward + both gradients: tfjs 640 ms, ours 240 / 117 ms
 * On a discrete GPU an 8-invocation workgroup without shared memory is far from ideal; a
 * shared-memory tiling for such devices would be a second configuration of this core.
 */

/**
 * Rows of C per workgroup: 8, or with subgroups optionally 16 (each lane loads two rows, and
 * every B load feeds twice the multiply-adds at the price of 64 accumulator registers, which
 * spill). On lavapipe 16 rows measured ~1.4x faster for a 2048^3 product, ~15% faster on the
 * 16x32x32x16 convolution layer, within noise at 1024^3 and ~15% slower at 512^3.
 */
export const TILE_M = 8;
export function tileRows(options: GemmOptions, defaultRows: 8 | 16 = 8): number {
  return options.subgroups ? (options.rows ?? defaultRows) : TILE_M;
}
/** Columns of C per workgroup: 8 lanes x a vec4 each. */
export const TILE_N = 32;
/** Invocations per workgroup (one lavapipe vector; at most one subgroup on any GPU). */
export const LANES = 8;
/** K values per unrolled step: 8 with subgroups (two vec4 per lane), 4 without. */
export function stepK(options: GemmOptions): number {
  return options.subgroups ? 8 : 4;
}

export interface GemmOptions {
  /**
   * Broadcast A through subgroupBroadcast (about 2x faster on lavapipe). Needs a device created
   * with the 'subgroups' feature whose subgroups hold at least 8 invocations
   * (adapter.info.subgroupMinSize >= 8); the generated code starts with `enable subgroups;`.
   */
  readonly subgroups?: boolean;
  /** Rows of C per workgroup with subgroups, 8 or 16 (see tileRows); by default the generator picks. */
  readonly rows?: 8 | 16;
}

/** Largest workgroup count per dispatch dimension that every WebGPU device accepts. */
const MAX_GROUPS = 65535;

/** Workgroup counts for `tiles` one-dimensional tiles, folded into y past the x limit. */
export function dispatchFor(tiles: number): [number, number, number] {
  if (tiles === 0) return [0, 1, 1];
  const x = Math.min(tiles, MAX_GROUPS);
  return [x, Math.ceil(tiles / x), 1];
}

/** `acc0 .. acc{TILE_M-1}`: vec4 accumulators, one per row of the lane's 8x4 block. */
export function accDecl(R: number): string {
  let s = '';
  for (let r = 0; r < R; r++) s += `  var acc${r} = vec4<f32>(0.0);\n`;
  return s;
}

/**
 * One step of multiply-adds: for each k of the step, acc_r += a(r, kk) * b(kk), written as one
 * nested fma per accumulator so each accumulator is assigned once per step (lavapipe masks every
 * assignment inside a loop).
 */
export function fmaStep(R: number, steps: number, a: (r: number, kk: number) => string, b: (kk: number) => string, indent = '    '): string {
  let s = '';
  for (let r = 0; r < R; r++) {
    let e = `acc${r}`;
    for (let kk = 0; kk < steps; kk++) e = `fma(vec4<f32>(${a(r, kk)}), ${b(kk)}, ${e})`;
    s += `${indent}acc${r} = ${e};\n`;
  }
  return s;
}

/** The A value of row r at step position kk in the subgroup layout: row r lives in lane r % 8. */
export function broadcastA(name: (g: number, h: number) => string) {
  return (r: number, kk: number): string =>
    `subgroupBroadcast(${name(Math.floor(r / LANES), kk >> 2)}.${'xyzw'[kk & 3]}, ${r % LANES}u)`;
}

/**
 * vec4 read of `arr` at element index `i` (an expression): one vec4 load when the array is bound
 * as array<vec4<f32>> (index divisible by 4), else four scalar loads.
 */
export function vec4At(arr: string, aligned: boolean, i: string): string {
  return aligned ? `${arr}[(${i}) >> 2u]` : `vec4<f32>(${arr}[${i}], ${arr}[(${i}) + 1u], ${arr}[(${i}) + 2u], ${arr}[(${i}) + 3u])`;
}

/** A scalar read from an array that may be bound as array<vec4<f32>>. */
export function scalarAt(arr: string, aligned: boolean, i: string): string {
  return aligned ? `${arr}[(${i}) >> 2u][(${i}) & 3u]` : `${arr}[${i}]`;
}

/** Storage declarations of the contract: inputs, then the output, then the uniform block. */
export function bindingDecl(inputs: readonly { name: string; vec4: boolean }[], out: { name: string; vec4: boolean }, uniformStruct: string): string {
  const t = (v: boolean) => (v ? 'array<vec4<f32>>' : 'array<f32>');
  let s = '';
  inputs.forEach((x, i) => {
    s += `@group(0) @binding(${i}) var<storage, read> ${x.name}: ${t(x.vec4)};\n`;
  });
  s += `@group(0) @binding(${inputs.length}) var<storage, read_write> ${out.name}: ${t(out.vec4)};\n`;
  s += `@group(0) @binding(${inputs.length + 1}) var<uniform> u: ${uniformStruct};\n`;
  return s;
}

/**
 * Writes the lane's 8x4 block: rows row0 + r, columns col .. col + 3 of a row-major [M, N]
 * output at element offset `off`. Guards only what the shape needs: rows when M is not a
 * multiple of TILE_M, columns when N is not a multiple of TILE_N.
 */
export function storeBlock(R: number, out: string, vec4Out: boolean, fullM: boolean, fullN: boolean): string {
  let s = '';
  for (let r = 0; r < R; r++) {
    const row = `row0 + ${r}u`;
    const base = `off + (${row}) * u.n + col`;
    if (vec4Out) {
      const conds = [...(fullM ? [] : [`${row} < u.m`]), ...(fullN ? [] : ['col < u.n'])];
      const st = `${out}[(${base}) >> 2u] = acc${r};`;
      s += conds.length ? `  if (${conds.join(' && ')}) { ${st} }\n` : `  ${st}\n`;
    } else {
      s += `  if (${fullM ? 'true' : `${row} < u.m`}) {\n`;
      for (let j = 0; j < 4; j++) {
        const st = `${out}[${base} + ${j}u] = acc${r}.${'xyzw'[j]};`;
        s += fullN && j === 0 ? `    ${st}\n` : `    if (col + ${j}u < u.n) { ${st} }\n`;
      }
      s += '  }\n';
    }
  }
  return s;
}

/**
 * The workgroup's tile from a linear workgroup index (x, then y past 65535 groups): tm (row tile,
 * fastest, so neighbouring workgroups share a column panel of B), tn, then the batch index.
 * Returns early for the padding groups of the last dispatch row.
 */
export function tileDecode(R: number): string {
  return `  let tile = wid.x + wid.y * nwg.x;
  if (tile >= u.tiles) { return; }
  let tm = tile % u.tilesM;
  let tn = (tile / u.tilesM) % u.tilesN;
  let batch = tile / (u.tilesM * u.tilesN);
  let row0 = tm * ${R}u;
  let col = tn * ${TILE_N}u + lid.x * 4u;
`;
}

export const ENTRY = `@compute @workgroup_size(${LANES}, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {`;

export const ENTRY_SUBGROUPS = `@compute @workgroup_size(${LANES}, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {`;

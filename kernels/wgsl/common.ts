/**
 * Shared pieces of the WGSL generators: uniform blocks declared and packed from one field list,
 * programs whose WGSL text is built lazily (the backend asks for `code` only on a pipeline-cache
 * miss, so a dispatch costs a key and a few uniform words, not a string template), linear
 * dispatch grids that spill into y past 65535 workgroups, and axis collapsing.
 */
import { UniformWriter, type ShaderProgram } from './program.ts';

/** The most workgroups per grid dimension every WebGPU device accepts. */
export const MAX_GROUPS_PER_DIM = 65535;

export type UniformType = 'u32' | 'i32' | 'f32';

/**
 * A uniform block built field by field. The field list makes both the WGSL struct and the
 * packed words, so the two cannot drift apart. All fields are 4-byte scalars, which the
 * uniform address space lays out tightly.
 */
export class UniformBlock {
  private readonly names: string[] = [];
  private readonly types: UniformType[] = [];
  private readonly writer = new UniformWriter();

  u32(name: string, value: number): this {
    this.names.push(name);
    this.types.push('u32');
    this.writer.u32(value);
    return this;
  }

  i32(name: string, value: number): this {
    this.names.push(name);
    this.types.push('i32');
    this.writer.i32(value);
    return this;
  }

  f32(name: string, value: number): this {
    this.names.push(name);
    this.types.push('f32');
    this.writer.f32(value);
    return this;
  }

  /** `struct U { ... }` for the fields so far. */
  struct(): string {
    return `struct U {\n${this.names.map((n, i) => `  ${n}: ${this.types[i]},`).join('\n')}\n}`;
  }

  words(): Uint32Array {
    return this.writer.finish();
  }
}

/** Generated WGSL per key: equal keys mean equal code, so a key is built once per process. */
const codeCache = new Map<string, string>();

/** A ShaderProgram whose `code` is generated on first access (and memoized per key). */
export function lazyProgram(
  key: string,
  inputs: number,
  uniforms: Uint32Array,
  dispatch: readonly [number, number, number],
  outputSize: number,
  code: () => string,
): ShaderProgram {
  return {
    key,
    inputs,
    uniforms,
    dispatch,
    outputSize,
    get code(): string {
      let text = codeCache.get(key);
      if (text === undefined) {
        text = code();
        codeCache.set(key, text);
      }
      return text;
    },
  };
}

/** Workgroup counts covering `groups` workgroups; WGSL recovers the linear id with linearGroup(). */
export function linearGrid(groups: number): [number, number, number] {
  const g = Math.max(1, groups);
  if (g <= MAX_GROUPS_PER_DIM) return [g, 1, 1];
  const y = Math.ceil(g / MAX_GROUPS_PER_DIM);
  return [Math.ceil(g / y), y, 1];
}

/** The dispatch for one thread per element with `workgroup` threads per group. */
export function elementGrid(n: number, workgroup: number): [number, number, number] {
  return linearGrid(Math.ceil(n / workgroup));
}

/** WGSL element type of a storage array: f32 for float32 tensors, i32 for int32 ones (program.ts). */
export type Elem = 'f32' | 'i32';

/** The storage element type of a dtype the WebGPU backend holds. */
export function elemOf(dtype: string): Elem {
  if (dtype === 'float32') return 'f32';
  if (dtype === 'int32') return 'i32';
  throw new Error(`the WebGPU kernels hold float32 and int32 only, got ${dtype}`);
}

/**
 * Bindings: inputs 0..k-1 read-only, then `out`, then the uniform block `u` (contract in
 * program.ts). `elems` gives each input's element type and then the output's (default all f32).
 */
export function bindings(inputs: number, names: readonly string[] = [], elems: readonly Elem[] = []): string {
  const lines: string[] = [];
  for (let i = 0; i < inputs; i++) lines.push(`@group(0) @binding(${i}) var<storage, read> ${names[i] ?? `in${i}`}: array<${elems[i] ?? 'f32'}>;`);
  lines.push(`@group(0) @binding(${inputs}) var<storage, read_write> out: array<${elems[inputs] ?? 'f32'}>;`);
  lines.push(`@group(0) @binding(${inputs + 1}) var<uniform> u: U;`);
  return lines.join('\n');
}

/** Entry-point parameters and the linear workgroup id `group` (grid spills into y; see linearGrid). */
export const ENTRY_PARAMS =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
export const LINEAR_GROUP = 'let group = wid.y * nwg.x + wid.x;';

/** Axis collapsing and row-major strides have one home, shared with the CPU kernels. */
export { collapseAxes, stridesOf as contiguousStrides, sizeOf as product } from '../../engine/shape.ts';

/**
 * WGSL that unravels the linear index `index` over dims named `${dim}0..` into coordinates
 * `${coord}0..` (innermost axis fastest).
 */
export function unravel(index: string, rank: number, dim: (d: number) => string, coord: string): string {
  if (rank === 1) return `let ${coord}0 = ${index};`;
  const lines = [`var rest_${coord} = ${index};`];
  for (let d = rank - 1; d > 0; d--) {
    lines.push(`let ${coord}${d} = rest_${coord} % ${dim(d)};`);
    lines.push(`rest_${coord} = rest_${coord} / ${dim(d)};`);
  }
  lines.push(`let ${coord}0 = rest_${coord};`);
  return lines.join('\n  ');
}

/**
 * A NaN test on the bits: some compilers (lavapipe's LLVM) assume floats are never NaN and fold
 * `x != x` to false, so the only reliable test is an integer one.
 */
export const ISNAN_WGSL = `fn tg_isnan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}`;

/**
 * max and min with NaN propagating as on the CPU (NumPy's maximum: the first NaN operand wins).
 * The NaN tests wrap the comparison, so a compiler that turns select(b, a, a > b) into a max
 * dropping NaNs cannot change the result. Needs ISNAN_WGSL.
 */
export const MAX_WGSL = `fn tg_max(a: f32, b: f32) -> f32 {
  return select(select(select(b, a, a > b), b, tg_isnan(b)), a, tg_isnan(a));
}`;
export const MIN_WGSL = `fn tg_min(a: f32, b: f32) -> f32 {
  return select(select(select(b, a, a < b), b, tg_isnan(b)), a, tg_isnan(a));
}`;

/** Formats a JS number as a WGSL f32 literal that round-trips (no NaN/inf: use bit patterns for those). */
export function f32Literal(v: number): string {
  const s = String(Math.fround(v));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * The contract between WGSL generators (kernels/wgsl, pure functions) and the WebGPU backend
 * (kernels/webgpu, which owns the device, pipeline cache and buffer pool).
 *
 * Binding layout of every program, group 0:
 *   @binding(0 .. inputs-1)  var<storage, read> in_i : array<f32>   (or array<vec4<f32>> when the
 *                            generator asks for vec4 views of an input that is 16-byte aligned;
 *                            array<i32> for an int32 tensor)
 *   @binding(inputs)         var<storage, read_write> out : array<f32>   (array<i32> for int32)
 * Every element is 4 bytes whatever its type, so buffers, pools and sizes ignore the dtype; only
 * the generated WGSL differs, and a program's key names the element types it was built for.
 *   @binding(inputs + 1)     var<uniform> u : Uniforms               (only when `uniforms` is non-empty)
 * Shapes, strides and scalar parameters travel as uniforms, so the pipeline cache key holds only
 * what changes the WGSL text: ranks, tile configuration and alignment flags.
 */
export interface ShaderProgram {
  /** Everything that changes `code`; equal keys must mean equal code. */
  readonly key: string;
  readonly code: string;
  /** Number of read-only storage inputs (bindings 0 .. inputs-1). */
  readonly inputs: number;
  /** Uniform block contents as 32-bit words (u32/i32/f32 bit patterns); empty for none. */
  readonly uniforms: Uint32Array;
  /** Workgroup counts for dispatchWorkgroups. */
  readonly dispatch: readonly [number, number, number];
  /** Size of the output in (4-byte) elements. */
  readonly outputSize: number;
}

/** Packs numbers into uniform words: integers as u32/i32 bit patterns, floats via `f32()`. */
export class UniformWriter {
  private readonly words: number[] = [];
  private readonly view = new DataView(new ArrayBuffer(4));

  u32(...values: number[]): this {
    for (const v of values) this.words.push(v >>> 0);
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) this.words.push(v | 0);
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) {
      this.view.setFloat32(0, v, true);
      this.words.push(this.view.getUint32(0, true));
    }
    return this;
  }

  /** Uniform blocks are sized in multiples of 16 bytes. */
  finish(): Uint32Array {
    const padded = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const out = new Uint32Array(padded);
    out.set(this.words.map((w) => w >>> 0));
    return out;
  }
}

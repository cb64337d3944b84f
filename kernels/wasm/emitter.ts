/**
 * A small WebAssembly binary emitter: just enough of the binary format (types, one imported
 * memory, functions, exports, code) and the instruction set (i32/f32/f64 scalars, 128-bit SIMD,
 * relaxed-SIMD fused multiply-add) for the kernels in this folder, which are generated from
 * TypeScript at run time. No toolchain, no prebuilt binaries: a kernel is a TypeScript function
 * that calls the methods of {@link Body} in stack-machine order.
 *
 * Encodings follow the WebAssembly core specification (binary format, sections 5.x), the fixed-width
 * SIMD proposal (prefix 0xFD, opcodes as unsigned LEB128) and the relaxed-SIMD proposal
 * (f32x4.relaxed_madd = 0xFD 0x105, f64x2.relaxed_madd = 0xFD 0x107).
 */

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128 of a non-negative integer below 2^32. */
export function uleb(value: number, out: number[] = []): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`uleb: ${value} is not a u32`);
  let v = value;
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of an integer in the i32 range. */
export function sleb(value: number, out: number[] = []): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`sleb: ${value} is not an i32`);
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** A vector of entries: count, then the entries. */
function vec(entries: number[][]): number[] {
  return [...uleb(entries.length), ...entries.flat()];
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

// Scalar opcodes by name (core spec 5.4); the SIMD ones carry the 0xFD prefix in `simd`.
const OPS = {
  'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.ne': 0x47, 'i32.lt_s': 0x48, 'i32.lt_u': 0x49,
  'i32.gt_s': 0x4a, 'i32.gt_u': 0x4b, 'i32.le_s': 0x4c, 'i32.le_u': 0x4d, 'i32.ge_s': 0x4e, 'i32.ge_u': 0x4f,
  'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.div_s': 0x6d, 'i32.div_u': 0x6e,
  'i32.rem_s': 0x6f, 'i32.rem_u': 0x70, 'i32.and': 0x71, 'i32.or': 0x72, 'i32.shl': 0x74, 'i32.shr_s': 0x75, 'i32.shr_u': 0x76,
  'f32.lt': 0x5d, 'f32.gt': 0x5e, 'f64.lt': 0x63, 'f64.gt': 0x64,
  'f32.add': 0x92, 'f32.sub': 0x93, 'f32.mul': 0x94, 'f32.div': 0x95, 'f32.min': 0x96, 'f32.max': 0x97,
  'f64.add': 0xa0, 'f64.sub': 0xa1, 'f64.mul': 0xa2, 'f64.div': 0xa3, 'f64.min': 0xa4, 'f64.max': 0xa5,
  'f64.promote_f32': 0xbb,
  'drop': 0x1a, 'select': 0x1b, 'return': 0x0f,
} as const;
export type ScalarOp = keyof typeof OPS;

const SIMD = {
  'i32x4.splat': 0x11, 'f32x4.splat': 0x13, 'f64x2.splat': 0x14,
  'f32x4.add': 0xe4, 'f32x4.sub': 0xe5, 'f32x4.mul': 0xe6, 'f32x4.div': 0xe7, 'f32x4.min': 0xe8, 'f32x4.max': 0xe9,
  'f32x4.pmin': 0xea, 'f32x4.pmax': 0xeb,
  'f64x2.add': 0xf0, 'f64x2.sub': 0xf1, 'f64x2.mul': 0xf2, 'f64x2.div': 0xf3, 'f64x2.min': 0xf4, 'f64x2.max': 0xf5,
  'f64x2.pmin': 0xf6, 'f64x2.pmax': 0xf7,
  'i32x4.ne': 0x38, 'f64x2.promote_low_f32x4': 0x5f,
  'f32x4.eq': 0x41, 'f32x4.ne': 0x42, 'f32x4.lt': 0x43, 'f32x4.gt': 0x44, 'f32x4.le': 0x45, 'f32x4.ge': 0x46,
  'f64x2.eq': 0x47, 'f64x2.ne': 0x48, 'f64x2.lt': 0x49, 'f64x2.gt': 0x4a, 'f64x2.le': 0x4b, 'f64x2.ge': 0x4c,
  'v128.and': 0x4e, 'v128.or': 0x50, 'v128.bitselect': 0x52,
  'f32x4.relaxed_madd': 0x105, 'f64x2.relaxed_madd': 0x107,
} as const;
export type SimdOp = keyof typeof SIMD;

// Loads and stores: opcode and natural alignment (log2 bytes), used as the default alignment hint.
const MEM = {
  'i32.load': [0x28, 2], 'f32.load': [0x2a, 2], 'f64.load': [0x2b, 3],
  'i32.store': [0x36, 2], 'f32.store': [0x38, 2], 'f64.store': [0x39, 3],
} as const;
const SIMD_MEM = {
  'v128.load': [0x00, 4], 'v128.load32_splat': [0x09, 2], 'v128.load64_splat': [0x0a, 3], 'v128.store': [0x0b, 4],
  'v128.load64_zero': [0x5d, 3],
} as const;
export type MemOp = keyof typeof MEM | keyof typeof SIMD_MEM;

/** The instruction stream of one function body. Methods return `this` so code reads top to bottom. */
export class Body {
  readonly bytes: number[] = [];
  private readonly localTypes: ValType[] = [];
  private depth = 0;

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {}

  /** A fresh local of this type; returns its index (after the parameters). */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  op(name: ScalarOp): this {
    this.bytes.push(OPS[name]);
    return this;
  }

  simd(name: SimdOp): this {
    this.bytes.push(0xfd);
    uleb(SIMD[name], this.bytes);
    return this;
  }

  /** A load or store with a constant byte offset (added to the address on the stack). */
  mem(name: MemOp, offset = 0, alignLog2?: number): this {
    if (name in MEM) {
      const [code, align] = MEM[name as keyof typeof MEM];
      this.bytes.push(code);
      uleb(alignLog2 ?? align, this.bytes);
    } else {
      const [code, align] = SIMD_MEM[name as keyof typeof SIMD_MEM];
      this.bytes.push(0xfd);
      uleb(code, this.bytes);
      uleb(alignLog2 ?? align, this.bytes);
    }
    uleb(offset, this.bytes);
    return this;
  }

  get(index: number): this {
    this.bytes.push(0x20);
    uleb(index, this.bytes);
    return this;
  }

  set(index: number): this {
    this.bytes.push(0x21);
    uleb(index, this.bytes);
    return this;
  }

  tee(index: number): this {
    this.bytes.push(0x22);
    uleb(index, this.bytes);
    return this;
  }

  i32(value: number): this {
    this.bytes.push(0x41);
    sleb(value | 0, this.bytes);
    return this;
  }

  f32(value: number): this {
    this.bytes.push(0x43, ...new Uint8Array(new Float32Array([value]).buffer));
    return this;
  }

  f64(value: number): this {
    this.bytes.push(0x44, ...new Uint8Array(new Float64Array([value]).buffer));
    return this;
  }

  /** v128 with lane `lane` of the vector on the stack (f32x4 or f64x2). */
  extractLane(shape: 'f32x4' | 'f64x2', lane: number): this {
    this.bytes.push(0xfd);
    uleb(shape === 'f32x4' ? 0x1f : 0x21, this.bytes);
    this.bytes.push(lane);
    return this;
  }

  /** block ... end; `br(0)` inside jumps past the end. */
  block(inner: () => void): this {
    return this.structured(0x02, inner);
  }

  /** loop ... end; `br(0)` inside jumps back to the start. */
  loop(inner: () => void): this {
    return this.structured(0x03, inner);
  }

  /** if (condition on the stack) then ... [else ...] end, with no result. */
  if(then: () => void, otherwise?: () => void): this {
    this.bytes.push(0x04, 0x40);
    this.depth++;
    then();
    if (otherwise) {
      this.bytes.push(0x05);
      otherwise();
    }
    this.depth--;
    this.bytes.push(0x0b);
    return this;
  }

  br(label: number): this {
    this.checkLabel(label);
    this.bytes.push(0x0c);
    uleb(label, this.bytes);
    return this;
  }

  brIf(label: number): this {
    this.checkLabel(label);
    this.bytes.push(0x0d);
    uleb(label, this.bytes);
    return this;
  }

  call(funcIndex: number): this {
    this.bytes.push(0x10);
    uleb(funcIndex, this.bytes);
    return this;
  }

  /**
   * A counted loop `for (i = from; i < to; i += step) body()` with `i`, `to` locals and `from`,
   * `step` emitted by callbacks or constants; skipped entirely when from >= to.
   */
  for(i: number, from: () => void, to: () => void, step: number | (() => void), body: () => void): this {
    from();
    this.set(i);
    this.block(() => {
      this.get(i);
      to();
      this.op('i32.ge_s').brIf(0);
      this.loop(() => {
        body();
        this.get(i);
        if (typeof step === 'number') this.i32(step);
        else step();
        this.op('i32.add').tee(i);
        to();
        this.op('i32.lt_s').brIf(0);
      });
    });
    return this;
  }

  /** The encoded body: local declarations (grouped by runs of one type), code, end. */
  encode(): number[] {
    if (this.depth !== 0) throw new Error('emitter: unbalanced block structure');
    const groups: number[][] = [];
    for (let i = 0; i < this.localTypes.length;) {
      let j = i;
      while (j < this.localTypes.length && this.localTypes[j] === this.localTypes[i]) j++;
      groups.push([...uleb(j - i), VALTYPE[this.localTypes[i]]]);
      i = j;
    }
    const body = [...vec(groups), ...this.bytes, 0x0b];
    return [...uleb(body.length), ...body];
  }

  private structured(code: number, inner: () => void): this {
    this.bytes.push(code, 0x40);
    this.depth++;
    inner();
    this.depth--;
    this.bytes.push(0x0b);
    return this;
  }

  private checkLabel(label: number): void {
    if (!Number.isInteger(label) || label < 0 || label >= this.depth + 1) {
      throw new RangeError(`emitter: branch to label ${label} outside ${this.depth} enclosing blocks`);
    }
  }
}

export interface MemoryImport {
  module: string;
  name: string;
  /** Initial size in 64 KiB pages. */
  initial: number;
  /** Maximum size in pages (required when shared). */
  maximum?: number;
  shared: boolean;
}

/** A module: one imported memory and any number of exported or internal functions. */
export class ModuleBuilder {
  private readonly funcs: { body: Body; exportAs?: string }[] = [];

  constructor(private readonly memory: MemoryImport) {}

  /** Adds a function; returns its index (for `call`). */
  func(body: Body, exportAs?: string): number {
    this.funcs.push({ body, exportAs });
    return this.funcs.length - 1;
  }

  encode(): Uint8Array<ArrayBuffer> {
    const { memory } = this;
    if (memory.shared && memory.maximum === undefined) throw new Error('emitter: a shared memory needs a maximum');
    // One type per function (duplicates are allowed by the format and keep indices trivial).
    const types = this.funcs.map(({ body }) => [
      0x60,
      ...vec(body.params.map((t) => [VALTYPE[t]])),
      ...vec(body.results.map((t) => [VALTYPE[t]])),
    ]);
    const limits = memory.maximum === undefined
      ? [0x00, ...uleb(memory.initial)]
      : [memory.shared ? 0x03 : 0x01, ...uleb(memory.initial), ...uleb(memory.maximum)];
    const imports = [[...name(memory.module), ...name(memory.name), 0x02, ...limits]];
    const exports = this.funcs.flatMap(({ exportAs }, i) => (exportAs === undefined ? [] : [[...name(exportAs), 0x00, ...uleb(i)]]));
    const bytes = [
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, vec(types)),
      ...section(2, vec(imports)),
      ...section(3, vec(this.funcs.map((_, i) => uleb(i)))),
      ...section(7, vec(exports)),
      ...section(10, vec(this.funcs.map(({ body }) => body.encode()))),
    ];
    return new Uint8Array(bytes);
  }
}

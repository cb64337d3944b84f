/** The Wasm emitter: LEB128 round trips, and generated modules that validate and compute the right thing. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Body, ModuleBuilder, sleb, uleb } from '../../../kernels/wasm/emitter.ts';

function decode(bytes: number[], signed: boolean): { value: number; length: number } {
  let result = 0n, shift = 0n, i = 0;
  for (;;) {
    const b = bytes[i++];
    result |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) {
      if (signed && (b & 0x40) !== 0) result -= 1n << shift;
      return { value: Number(result), length: i };
    }
  }
}

function instantiate(mod: ModuleBuilder, pages = 1): { exports: WebAssembly.Exports; memory: WebAssembly.Memory } {
  const bytes = mod.encode();
  expect(WebAssembly.validate(bytes)).toBe(true);
  const memory = new WebAssembly.Memory({ initial: pages });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  return { exports: instance.exports, memory };
}

describe('LEB128', () => {
  it('unsigned: decodes back, minimal length', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      const bytes = uleb(v);
      expect(decode(bytes, false)).toEqual({ value: v, length: bytes.length });
      expect(bytes.length).toBe(Math.max(1, Math.ceil(Math.log2(v + 1) / 7)));
    }));
  });
  it('signed: decodes back for the whole i32 range', () => {
    fc.assert(fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (v) => {
      const bytes = sleb(v);
      expect(decode(bytes, true)).toEqual({ value: v, length: bytes.length });
    }));
  });
  it('rejects values outside its range', () => {
    expect(() => uleb(-1)).toThrow(/u32/);
    expect(() => sleb(2 ** 31)).toThrow(/i32/);
  });
});

describe('generated modules', () => {
  it('i32 constants of any size survive (signed LEB in i32.const)', () => {
    fc.assert(fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (v) => {
      const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, shared: false });
      mod.func(new Body([], ['i32']).i32(v), 'c');
      const { exports } = instantiate(mod);
      expect((exports.c as () => number)()).toBe(v);
    }), { numRuns: 30 });
  });

  it('a SIMD dot product with loops, locals and lane extraction matches a float64 loop', () => {
    // dot(x, y, n): f32x4 over whole vectors, scalar tail; x and y at byte addresses.
    const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, shared: false });
    const f = new Body(['i32', 'i32', 'i32'], ['f32']);
    const [x, y, n] = [0, 1, 2];
    const i = f.local('i32'), acc = f.local('v128'), s = f.local('f32');
    f.f32(0).simd('f32x4.splat').set(acc);
    f.for(i, () => f.i32(0), () => f.get(n).i32(-4).op('i32.and'), 4, () => {
      f.get(acc)
        .get(x).get(i).i32(4).op('i32.mul').op('i32.add').mem('v128.load', 0, 0)
        .get(y).get(i).i32(4).op('i32.mul').op('i32.add').mem('v128.load', 0, 0)
        .simd('f32x4.mul').simd('f32x4.add').set(acc);
    });
    f.get(acc).extractLane('f32x4', 0).get(acc).extractLane('f32x4', 1).op('f32.add')
      .get(acc).extractLane('f32x4', 2).get(acc).extractLane('f32x4', 3).op('f32.add').op('f32.add').set(s);
    f.for(i, () => f.get(n).i32(-4).op('i32.and'), () => f.get(n), 1, () => {
      f.get(s)
        .get(x).get(i).i32(4).op('i32.mul').op('i32.add').mem('f32.load')
        .get(y).get(i).i32(4).op('i32.mul').op('i32.add').mem('f32.load')
        .op('f32.mul').op('f32.add').set(s);
    });
    f.get(s);
    mod.func(f, 'dot');
    const { exports, memory } = instantiate(mod);
    const dot = exports.dot as (x: number, y: number, n: number) => number;
    fc.assert(fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 100 }), (len, seed) => {
      const xs = new Float32Array(memory.buffer, 0, len), ys = new Float32Array(memory.buffer, 4096, len);
      let ref = 0, refAbs = 0;
      for (let j = 0; j < len; j++) {
        xs[j] = Math.sin(j + seed);
        ys[j] = Math.cos(3 * j - seed);
        ref += xs[j] * ys[j];
        refAbs += Math.abs(xs[j] * ys[j]);
      }
      // float32 accumulation: error at most ~ len * 2^-24 * sum |x y|.
      expect(Math.abs(dot(0, 4096, len) - ref)).toBeLessThanOrEqual((len + 4) * 2 ** -24 * refAbs + 1e-30);
    }), { numRuns: 40 });
  });

  it('f64 arithmetic, splat loads, if/else and block/br_if', () => {
    // piece(p): v = f64 at p (read through a splat load); v > 1 ? 2v : v < 0 ? -1 : v + 0.5
    const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, shared: false });
    const f = new Body(['i32'], ['f64']);
    const v = f.local('f64'), r = f.local('f64');
    f.get(0).mem('v128.load64_splat').extractLane('f64x2', 1).set(v);
    f.f64(-1).set(r);
    f.get(v).f64(1).op('f64.gt');
    f.if(() => { f.get(v).f64(2).op('f64.mul').set(r); }, () => {
      f.block(() => {
        f.get(v).f64(0).op('f64.lt').brIf(0);
        f.get(v).f64(0.5).op('f64.add').set(r);
      });
    });
    f.get(r);
    mod.func(f, 'piece');
    const { exports, memory } = instantiate(mod);
    const at = new Float64Array(memory.buffer, 64, 1);
    fc.assert(fc.property(fc.double({ min: -10, max: 10, noNaN: true }), (x) => {
      at[0] = x;
      expect((exports.piece as (p: number) => number)(64)).toBe(x > 1 ? 2 * x : x < 0 ? -1 : x + 0.5);
    }), { numRuns: 50 });
  });

  it('refuses a branch out of the function and unbalanced blocks', () => {
    const f = new Body([], []);
    expect(() => f.br(1)).toThrow(/label 1/);
    f.block(() => { f.brIf(1); });
    expect(() => f.loop(() => f.br(2))).toThrow(/label 2/);
    // The loop above was left open by the throw.
    expect(() => f.encode()).toThrow(/unbalanced/);
  });

  it('a shared memory needs a maximum', () => {
    const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, shared: true });
    mod.func(new Body([], []));
    expect(() => mod.encode()).toThrow(/maximum/);
  });
});

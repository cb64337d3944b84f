/**
 * The kernels' heap (kernels/wasm/heap.ts) and the CPU backend's resident arrays: blocks never
 * overlap and are reused, a resident array is zeroed however its block was used before, a full
 * memory is refused (the caller falls back), storage shared between tensors is freed once with its
 * last holder, a loop of disposed steps leaves the heap as it found it, and an array dropped
 * without dispose is freed when it is garbage collected.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tg from '../../../engine/index.ts';
import { configureCpu, shutdownCpuThreads, wasmRuntime } from '../../../kernels/cpu/config.ts';
import { wasmFeatures } from '../../../kernels/wasm/features.ts';
import { wasmGemm } from '../../../kernels/wasm/gemm.ts';
import { blockSize, WasmHeap } from '../../../kernels/wasm/heap.ts';
import { WasmRuntime } from '../../../kernels/wasm/runtime.ts';
import { randomArray } from '../../random-array.ts';

const features = wasmFeatures();
const PAGE = 65536;

/** A heap over a fresh shared memory of one page, growing to at most `maxPages`. */
function testHeap(maxPages: number): WasmHeap {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: maxPages, shared: true });
  return new WasmHeap(memory, 64, true, maxPages * PAGE);
}

describe('block sizes', () => {
  it('cover the request and a whole vector after it, 64-byte multiples, at most 12.5% over past 4 KiB', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1 << 28 }), (bytes) => {
      const size = blockSize(bytes);
      expect(size).toBeGreaterThanOrEqual(bytes + 16);
      expect(size % 64).toBe(0);
      if (bytes > 4096) expect(size).toBeLessThanOrEqual(Math.ceil((bytes + 16) * 1.125) + 64);
    }));
  });
});

describe.skipIf(!features.threads)('the heap', () => {
  /**
   * Runs random allocations (and frees of a live block, picked by the request size) on `heap`,
   * checking that every block it hands out is 64-byte aligned, inside its `maxPages` memory and
   * apart from every live one; a refused request (-1) is allowed only where `mayRefuse`. Returns
   * the live blocks (address to size).
   */
  function exercise(heap: WasmHeap, maxPages: number, steps: [boolean, number][], mayRefuse: boolean): Map<number, number> {
    const live = new Map<number, number>();
    for (const [free, bytes] of steps) {
      if (free && live.size > 0) {
        const at = [...live.keys()][bytes % live.size];
        heap.free(at);
        live.delete(at);
        continue;
      }
      const at = heap.alloc(bytes);
      if (at < 0 && mayRefuse) continue;
      const size = blockSize(bytes);
      expect(at).toBeGreaterThanOrEqual(64);
      expect(at % 64).toBe(0);
      expect(at + size).toBeLessThanOrEqual(maxPages * PAGE);
      for (const [other, otherSize] of live) expect(at + size <= other || other + otherSize <= at).toBe(true);
      live.set(at, size);
    }
    return live;
  }

  it('live blocks never overlap, are 64-byte aligned, and freed blocks are reused before the top grows', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 20000 })), { minLength: 1, maxLength: 80 }), (steps) => {
      const heap = testHeap(256);
      const live = exercise(heap, 256, steps, false);
      // The same requests again, after freeing everything, take no new memory.
      for (const at of live.keys()) heap.free(at);
      const reserved = heap.stats().reservedBytes;
      const sizes = [...live.values()];
      for (const size of sizes) heap.alloc(size - 16);
      expect(heap.stats().reservedBytes).toBe(reserved);
      expect(heap.stats().inUseBytes).toBe(sizes.reduce((s, v) => s + v, 0));
    }));
  });

  it('at its maximum, it merges free neighbours and splits the best fit: blocks stay inside the memory and apart, and everything freed can be taken again as one block', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 150_000 })), { minLength: 1, maxLength: 120 }), (steps) => {
      const heap = testHeap(8);
      const live = exercise(heap, 8, steps, true);
      for (const at of live.keys()) heap.free(at);
      // The largest request whose size class fits the whole heap (64 .. max).
      expect(heap.alloc(8 * PAGE - 64 - 32768)).toBeGreaterThanOrEqual(64);
    }));
  });

  it('a resident array is zero in memory handed back to the top and taken again', () => {
    const heap = testHeap(2);
    const a = heap.allocArray('float32', 12000)!;
    const b = heap.allocArray('float32', 12000)!;
    a.fill(3);
    b.fill(4);
    heap.release(a);
    heap.release(b);
    // Neither class fits above the top now: the two blocks merge and are split again.
    const c = heap.allocArray('float32', 30000)!;
    expect(c).not.toBeNull();
    expect(c.every((v) => v === 0)).toBe(true);
  });

  it('a freed block freed again is an error naming it', () => {
    const heap = testHeap(4);
    const at = heap.alloc(100);
    heap.free(at);
    expect(() => heap.free(at)).toThrow(`cpu memory: no block at ${at} to free (freed twice?)`);
  });

  it('a resident array is zero even in a reused block', () => {
    const heap = testHeap(4);
    const a = heap.allocArray('float64', 1000)!;
    a.fill(7);
    heap.release(a);
    const b = heap.allocArray('float64', 1000)!;
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(b.every((v) => v === 0)).toBe(true);
  });

  it('refuses what the memory cannot hold (-1, or null for an array), and still serves what fits', () => {
    const heap = testHeap(4);
    expect(heap.alloc(5 * PAGE)).toBe(-1);
    expect(heap.allocArray('float32', 2 * PAGE)).toBeNull();
    expect(heap.alloc(PAGE)).toBeGreaterThan(0);
  });

  it('a non-shared heap holds no resident arrays (growing would detach them)', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const heap = new WasmHeap(memory, 64, false, 4 * PAGE);
    expect(heap.allocArray('float32', 100)).toBeNull();
    expect(heap.alloc(100)).toBe(64);
  });

  it('int32 arrays are never resident (no kernel reads them in place)', () => {
    expect(testHeap(4).allocArray('int32', 100)).toBeNull();
  });
});

describe.skipIf(!features.simd)('a runtime without shared memory (a page that is not cross-origin isolated)', () => {
  it('copies operands through temporary blocks, grows its memory for large ones (detaching the old buffer), and computes right', () => {
    const rt = new WasmRuntime({ fma: false, threads: 1, shared: false });
    const before = rt.memory.buffer;
    const m = 301, n = 297, k = 499; // 3.5 MB of float64 operands: past the initial memory
    const a = randomArray('float64', m * k, 11), b = randomArray('float64', k * n, 12), c = new Float64Array(m * n);
    expect(wasmGemm(rt, m, n, k, a, 0, false, b, 0, false, c, 0)).toBe(true);
    expect(rt.memory.buffer).not.toBe(before);
    expect(before.byteLength).toBe(0); // detached by the growth
    for (const [i, j] of [[0, 0], [m - 1, n - 1], [150, 7], [13, 290]]) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
      expect(c[i * n + j]).toBeCloseTo(sum, 10);
    }
    expect(rt.heap.stats().blocks).toBe(0);
    expect(rt.heap.allocArray('float64', 10)).toBeNull();
  });
});

describe.skipIf(!features.simd || !features.threads)('resident storage in the CPU backend', () => {
  beforeAll(async () => {
    await configureCpu({ threads: 2, wasmMinWork: 1, residentMinBytes: 1 });
    tg.useBackend('cpu');
  });
  afterAll(async () => {
    await configureCpu({});
    shutdownCpuThreads();
  });

  const inUse = () => wasmRuntime()!.heap.stats().inUseBytes;

  it('kernel outputs are resident, and a loop of disposed training-like steps leaves the heap as it was', () => {
    const w = tg.keep(tg.normal(tg.key(0), [37, 29], 'float32'));
    const x = tg.keep(tg.normal(tg.key(1), [19, 37], 'float32'));
    const step = () => tg.tidy(() => {
      const [l, g] = tg.valueAndGrad((v: tg.Tensor) => tg.mean(tg.square(tg.relu(tg.add(tg.matmul(x, v), 0.5)))))(w);
      return [l, tg.sub(w, tg.mul(g, 0.1))];
    });
    tg.dispose(step());
    const before = inUse();
    for (let i = 0; i < 5; i++) {
      const [l, next] = step();
      expect(wasmRuntime()!.heap.owns(next.storage as Float32Array)).toBe(true);
      expect(Number.isFinite(l.itemSync())).toBe(true);
      tg.dispose([l, next]);
    }
    expect(inUse()).toBe(before);
    tg.dispose([w, x]);
  });

  it("a tensor made from host values is copied into the kernels' memory once (the host array is not kept)", () => {
    const host = Float32Array.from({ length: 300 }, (_, i) => i / 7);
    const t = tg.tensor(host, [20, 15]);
    expect(wasmRuntime()!.heap.owns(t.storage as Float32Array)).toBe(true);
    host[0] = 99;
    expect(Array.from(t.dataSync())).toEqual(Array.from(host, (v, i) => (i === 0 ? 0 : v)));
    t.dispose();
  });

  it('storage shared by identity-like primitives is freed once, with its last holder, and stays readable until then', () => {
    const a = tg.mul(tg.normal(tg.key(2), [64, 64], 'float32'), 2);
    const block = (a.storage as Float32Array).byteOffset;
    const values = Array.from(a.dataSync());
    const before = inUse();
    const b = tg.identity(a);
    const c = tg.stopGradient(b);
    expect((c.storage as Float32Array).byteOffset).toBe(block);
    a.dispose();
    b.dispose();
    expect(inUse()).toBe(before);
    // While c holds the block, a new array of the same size takes another.
    const d = tg.mul(c, 1);
    expect((d.storage as Float32Array).byteOffset).not.toBe(block);
    expect(Array.from(c.dataSync())).toEqual(values);
    c.dispose();
    expect(inUse()).toBe(before);
    // Now the block is free, and the next array of its size takes it.
    const e = tg.mul(d, 1);
    expect((e.storage as Float32Array).byteOffset).toBe(block);
    expect(Array.from(e.dataSync())).toEqual(values);
    tg.dispose([d, e]);
  });

  it('kernels give the same values with every operand resident as with every operand copied', async () => {
    const run = () => tg.tidy(() => {
      const x = tg.normal(tg.key(3), [3, 9, 11, 5], 'float32');
      const k = tg.normal(tg.key(4), [3, 3, 5, 7], 'float32');
      const y = tg.relu(tg.conv2d(x, k, { padding: 'SAME', strides: 2 }));
      const z = tg.where(tg.greater(y, 0.2), tg.add(y, tg.normal(tg.key(5), [7], 'float32')), tg.mul(y, 3));
      return tg.sum(tg.matmul(tg.reshape(z, [-1, 7]), tg.normal(tg.key(6), [7, 13], 'float32')), [0]);
    });
    const resident = run();
    const residentValues = Array.from(resident.dataSync());
    resident.dispose();
    await configureCpu({ threads: 2, wasmMinWork: 1, residentMinBytes: 1e15 });
    const copied = run();
    expect(wasmRuntime()!.heap.stats().blocks).toBe(0);
    expect(Array.from(copied.dataSync())).toEqual(residentValues);
    copied.dispose();
    await configureCpu({ threads: 2, wasmMinWork: 1, residentMinBytes: 1 });
  });
});

describe.skipIf(!features.simd || !features.threads)('a resident array dropped without dispose', () => {
  it('is freed when it is garbage collected', () => {
    const script = `
      import * as tg from './engine/index.ts';
      import { configureCpu, wasmRuntime } from './kernels/cpu/config.ts';
      await configureCpu({ threads: 1, residentMinBytes: 1 });
      tg.useBackend('cpu');
      const inUse = () => wasmRuntime().heap.stats().inUseBytes;
      const base = inUse();
      (() => { for (let i = 0; i < 50; i++) tg.mul(tg.ones([256, 256], 'float32'), i); })();
      const held = inUse() - base;
      for (let i = 0; i < 20 && inUse() > base; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
      console.log(JSON.stringify({ held, after: inUse() - base }));
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../..', import.meta.url), encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const { held, after } = JSON.parse(r.stdout) as { held: number; after: number };
    expect(held).toBeGreaterThanOrEqual(50 * 256 * 256 * 4);
    expect(after).toBe(0);
  });
});

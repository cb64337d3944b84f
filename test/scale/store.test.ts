/**
 * Kernel stores (scale/): the block grid, the chunk format (Zarr v3 read by zarrita, crc32c), the
 * runners on one machine against the model's kernel function on the whole data, resume after a
 * killed run, damaged chunks recomputed, reading back, .npy export read by numpy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import * as zarr from 'zarrita';
import FileSystemStore from '@zarrita/storage/fs';
import { afterAll, describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { Dense, Relu, Erf, serial } from '../../models/index.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import type { ApplyFn } from '../../linearize/linearize.ts';
import type { Params } from '../../models/layer.ts';
import { crc32c } from '../../scale/crc32c.ts';
import { blockAt, blockCount } from '../../scale/blocks.ts';
import { buildModel, parseModelSpec, type ModelSpec } from '../../scale/model-spec.ts';
import { createKernelStore } from '../../scale/create-store.ts';
import { runLocal } from '../../scale/local-runner.ts';
import { runIndexTask, arrayTask } from '../../scale/index-runner.ts';
import { KernelStore } from '../../scale/store.ts';
import { exportNpy, kernelRowBlocks, readKernelMatrix, readKernelTensor } from '../../scale/read-kernel.ts';
import { npyHeader, readNpy, writeNpy } from '../../scale/npy.ts';
import { storedParams } from '../../scale/compute-block.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'tg-scale-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SPEC: ModelSpec = [{ layer: 'Dense', out: 64, W_std: 1.5, b_std: 0.1 }, 'Relu', { layer: 'Dense', out: 64, W_std: 1.5, b_std: 0.1 }, 'Erf', { layer: 'Dense', out: 1, W_std: 1.5, b_std: 0.1 }];

function data(n: number, d: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n * d }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

let counter = 0;
const fresh = (name: string) => path.join(work, `${name}-${counter++}.zarr`);

/** Bit-level equality of two float arrays (NaN equal to NaN, -0 differs from 0). */
function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function storeBytes(root: string, kernel: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.endsWith('.partial')) out.set(path.relative(root, p), readFileSync(p).toString('hex'));
    }
  };
  walk(path.join(root, kernel, 'c'));
  return out;
}

describe('block grid and chunk format', () => {
  it('crc32c has the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // The sliced implementation against the bit-by-bit definition, any length and alignment.
    const bitwise = (b: Uint8Array) => {
      let c = 0xffffffff;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(7), (b, skip) => {
      const view = b.subarray(Math.min(skip, b.length));
      expect(crc32c(view)).toBe(bitwise(view));
    }));
  });

  it('block tasks cover every block once (upper triangle for one dataset)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 17 }), fc.boolean(), (n1, n2In, B, symmetric) => {
      const n2 = symmetric ? n1 : n2In;
      const G1 = Math.ceil(n1 / B);
      const G2 = Math.ceil(n2 / B);
      const total = blockCount(G1, G2, symmetric);
      const seen = new Set<string>();
      let entries = 0;
      for (let i = 0; i < total; i++) {
        const b = blockAt(i, G1, G2, symmetric, B, n1, n2);
        expect(b.index).toBe(i);
        if (symmetric) expect(b.col).toBeGreaterThanOrEqual(b.row);
        seen.add(`${b.row},${b.col}`);
        entries += symmetric && b.row !== b.col ? 2 * b.rows * b.cols : b.rows * b.cols;
      }
      expect(seen.size).toBe(total);
      expect(entries).toBe(n1 * n2);
      expect(() => blockAt(total, G1, G2, symmetric, B, n1, n2)).toThrow(/outside/);
    }));
  });

  it('npy header is a multiple of 64 bytes and round-trips', () => {
    for (const shape of [[3], [2, 5], [7, 1, 3]]) {
      expect(npyHeader(shape, 'float64').length % 64).toBe(0);
    }
  });

  it('model specs build the same model and reject typos by name', () => {
    const direct = serial(Dense(64, { W_std: 1.5, b_std: 0.1 }), Relu(), Dense(64, { W_std: 1.5, b_std: 0.1 }), Erf(), Dense(1, { W_std: 1.5, b_std: 0.1 }));
    const x = { shape: [5, 3], data: data(5, 3, 1) };
    const a = buildModel(SPEC).kernel!(x).ntk!.dataSync();
    const b = direct.kernel!(x).ntk!.dataSync();
    expect(sameBits(a, b)).toBe(true);
    expect(() => parseModelSpec('[{"layer":"Dense","out":3,"W_sdt":1}]')).toThrow(/model\[0\] \(Dense\): unknown option 'W_sdt'/);
    expect(() => parseModelSpec('["Relu", "Softmax"]')).toThrow(/model\[1\]: unknown layer 'Softmax'/);
    expect(() => parseModelSpec('[]')).toThrow(/non-empty array/);
    expect(() => parseModelSpec('{')).toThrow(/not valid JSON/);
    expect(() => parseModelSpec('[{"layer":"Conv","out":3}]')).toThrow(/filter \[kh, kw\] is required/);
  });
});

describe('local runs', () => {
  it('the store equals the kernel function on the whole data, bit for bit, in-process and on worker threads', async () => {
    const n = 45;
    const x = { shape: [n, 6], data: data(n, 6, 2) };
    const B = 8;
    const ref = buildModel(SPEC).kernel!(x, undefined, { blockSize: B });
    const inProcess = fresh('sym');
    const pooled = fresh('sym');
    await createKernelStore(inProcess, { model: SPEC, x1: x, blockSize: B });
    await createKernelStore(pooled, { model: SPEC, x1: x, blockSize: B });
    const s0 = await runLocal(inProcess, { workers: 0 });
    // Upper-triangle entries: 5 full diagonal blocks + the 5 x 5 corner + 10 full pairs + 5 full x edge pairs.
    expect(s0).toMatchObject({ blocks: 21, computed: 21, skipped: 0, entries: 5 * 64 + 25 + 10 * 64 + 5 * 40 });
    const s2 = await runLocal(pooled, { workers: 2 });
    expect(s2.computed).toBe(21);
    for (const k of ['nngp', 'ntk'] as const) {
      const m = readKernelMatrix(inProcess, k);
      expect(sameBits(m.data, (k === 'nngp' ? ref.nngp : ref.ntk!).dataSync())).toBe(true);
      expect(storeBytes(pooled, k)).toEqual(storeBytes(inProcess, k));
    }
  });

  it('two datasets (odd sizes): every block, read back whole, as strips and as a Tensor', async () => {
    const x1 = { shape: [23, 4], data: data(23, 4, 3) };
    const x2 = { shape: [17, 4], data: data(17, 4, 4) };
    const root = fresh('cross');
    await createKernelStore(root, { model: SPEC, x1, x2, blockSize: 7, kernels: ['ntk'] });
    // A run stopped after 3 blocks, then the rest: 4 x 3 blocks in all.
    expect(await runLocal(root, { workers: 0, maxBlocks: 3 })).toMatchObject({ blocks: 12, computed: 3, skipped: 0 });
    expect(await runLocal(root, { workers: 0 })).toMatchObject({ blocks: 12, computed: 9, skipped: 3 });
    const ref = buildModel(SPEC).kernel!(x1, x2, { blockSize: 7 }).ntk!.dataSync();
    expect(sameBits(readKernelMatrix(root, 'ntk').data, ref)).toBe(true);
    const strips = [...kernelRowBlocks(root, 'ntk')];
    expect(strips.map((s) => [s.start, s.rows])).toEqual([[0, 7], [7, 7], [14, 7], [21, 2]]);
    expect(sameBits(Float64Array.from(strips.flatMap((s) => [...s.data])), ref)).toBe(true);
    const t = readKernelTensor(root, 'ntk');
    expect(t.shape).toEqual([23, 17]);
    expect(sameBits(t.dataSync(), ref)).toBe(true);
    expect(() => readKernelMatrix(root, 'nngp')).toThrow(/has no 'nngp'/);
  });

  it('other Zarr readers open the arrays: zarrita reads the stored blocks, NaN where nothing is stored', async () => {
    const n = 20;
    const x = { shape: [n, 3], data: data(n, 3, 5) };
    const root = fresh('zarrita');
    await createKernelStore(root, { model: SPEC, x1: x, blockSize: 6 });
    await runLocal(root, { workers: 0 });
    const arr = await zarr.open.v3(zarr.root(new FileSystemStore(root)).resolve('ntk'), { kind: 'array' });
    const got = await zarr.get(arr);
    expect(got.shape).toEqual([n, n]);
    const full = readKernelMatrix(root, 'ntk').data;
    const raw = got.data as Float64Array;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (Math.floor(j / 6) >= Math.floor(i / 6)) expect(Object.is(raw[i * n + j], full[i * n + j])).toBe(true);
        else expect(raw[i * n + j]).toBeNaN();
      }
    }
    const xs = await zarr.get(await zarr.open.v3(zarr.root(new FileSystemStore(root)).resolve('x1'), { kind: 'array' }));
    expect(sameBits(xs.data as Float64Array, x.data)).toBe(true);
    const meta = KernelStore.open(root).meta;
    expect(meta).toMatchObject({ mode: 'analytic', model: SPEC, dtype: 'float64', n1: n, n2: n, symmetric: true, blockSize: 6 });
    expect(meta.versions.tangentgrad).toMatch(/^\d+\.\d+\.\d+/);
    expect(meta.versions.zarrita).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a damaged chunk (flipped byte, truncated, missing) is found and recomputed; leftovers of killed writers are removed', async () => {
    const x = { shape: [30, 5], data: data(30, 5, 6) };
    const root = fresh('damage');
    await createKernelStore(root, { model: SPEC, x1: x, blockSize: 8 });
    await runLocal(root, { workers: 0 });
    const before = storeBytes(root, 'ntk');
    const beforeNngp = storeBytes(root, 'nngp');
    const store = KernelStore.open(root);
    const flip = store.chunkPath('ntk', [0, 1]);
    const bytes = readFileSync(flip);
    bytes[100] ^= 0x01;
    writeFileSync(flip, bytes);
    truncateSync(store.chunkPath('nngp', [1, 3]), statSync(store.chunkPath('nngp', [1, 3])).size - 9);
    rmSync(store.chunkPath('ntk', [3, 3]));
    // Leftovers of a writer killed an hour ago are removed; a fresh one (maybe a live writer's) is kept.
    const partial = `${store.chunkPath('ntk', [2, 2])}.999.abcd.partial`;
    writeFileSync(partial, 'half a chunk');
    utimesSync(partial, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    const young = `${store.chunkPath('ntk', [2, 3])}.998.abcd.partial`;
    writeFileSync(young, 'being written');
    const damaged = [store.block(1).index, blockIndex(store, 1, 3), blockIndex(store, 3, 3)];
    expect(store.missingBlocks()).toEqual(damaged.sort((a, b) => a - b));
    expect(() => readKernelMatrix(root, 'ntk')).toThrow(/block \(0, 1\) of ntk is missing or fails its checksum/);
    const rerun = await runLocal(root, { workers: 0 });
    expect(rerun.computed).toBe(3);
    expect(() => statSync(partial)).toThrow(/ENOENT/);
    expect(readFileSync(young, 'utf8')).toBe('being written');
    expect(storeBytes(root, 'ntk')).toEqual(before);
    expect(storeBytes(root, 'nngp')).toEqual(beforeNngp);
  });

  it('resumes after a run killed mid-way: only the missing blocks are computed, and the result is the same', async () => {
    const n = 96;
    const x = { shape: [n, 6], data: data(n, 6, 7) };
    const root = fresh('resume');
    const ref = fresh('resume-ref');
    await createKernelStore(root, { model: SPEC, x1: x, blockSize: 6 });
    await createKernelStore(ref, { model: SPEC, x1: x, blockSize: 6 });
    const total = KernelStore.open(root).blockCount;
    // A real interruption: the CLI in a child process, killed with SIGKILL once some blocks are written.
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'kernel', 'run', '--store', root, '--workers', '0', '--no-progress'], { cwd: repoRoot, stdio: 'ignore' });
    const chunkDir = path.join(root, 'ntk', 'c');
    const written = () => {
      try {
        return readdirSync(chunkDir, { recursive: true }).filter((f) => /\d$/.test(String(f)) && String(f).includes('/')).length;
      } catch {
        return 0;
      }
    };
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (written() >= 10) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      child.on('exit', (code) => {
        clearInterval(timer);
        if (written() < 10) reject(new Error(`the run ended (code ${code}) before 10 blocks were written`));
      });
    });
    await new Promise((r) => child.once('exit', r));
    const done = total - KernelStore.open(root).missingBlocks().length;
    expect(done).toBeGreaterThanOrEqual(9);
    expect(done).toBeLessThan(total);
    const resumed = await runLocal(root, { workers: 0 });
    expect(resumed.computed).toBe(total - done);
    expect(resumed.skipped).toBe(done);
    await runLocal(ref, { workers: 0 });
    for (const k of ['nngp', 'ntk']) expect(storeBytes(root, k)).toEqual(storeBytes(ref, k));
  });

  it('array-job tasks split the blocks between them and skip what is done', async () => {
    const x1 = { shape: [25, 3], data: data(25, 3, 8) };
    const root = fresh('index');
    const ref = fresh('index-ref');
    await createKernelStore(root, { model: SPEC, x1, blockSize: 5 });
    await createKernelStore(ref, { model: SPEC, x1, blockSize: 5 });
    const total = KernelStore.open(root).blockCount;
    const t0 = await runIndexTask(root, { env: { JOB_COMPLETION_INDEX: '0' }, count: 3 });
    const t1 = await runIndexTask(root, { env: { SLURM_ARRAY_TASK_ID: '11', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_COUNT: '3' } });
    const t2 = await runIndexTask(root, { index: 2, count: 3 });
    expect([t0, t1, t2].map((t) => t.index)).toEqual([0, 1, 2]);
    expect(t0.computed + t1.computed + t2.computed).toBe(total);
    expect((await runIndexTask(root, { index: 1, count: 3 })).computed).toBe(0);
    await runLocal(ref, { workers: 0 });
    expect(storeBytes(root, 'ntk')).toEqual(storeBytes(ref, 'ntk'));
    expect(() => arrayTask(10, { env: {} })).toThrow(/JOB_COMPLETION_INDEX.*SLURM_ARRAY_TASK_ID/);
    expect(() => arrayTask(10, { env: { JOB_COMPLETION_INDEX: '10' } })).toThrow(/outside \[0, 10\)/);
    expect(() => arrayTask(10, { env: { SLURM_ARRAY_TASK_ID: 'x' } })).toThrow(/SLURM_ARRAY_TASK_ID='x'/);
  });

  it('empirical NTK at the stored parameters equals empiricalNtk on the whole data', async () => {
    const spec: ModelSpec = [{ layer: 'Dense', out: 16, W_std: 1.5, b_std: 0.1 }, 'Tanh', { layer: 'Dense', out: 2, W_std: 1.5 }];
    const n = 13;
    const x = { shape: [n, 3], data: data(n, 3, 9) };
    const root = fresh('emp');
    await createKernelStore(root, { model: spec, x1: x, mode: 'empirical', blockSize: 5, seed: 3, innerBlock: 5 });
    await runLocal(root, { workers: 0 });
    const model = buildModel(spec);
    const { params } = model.init(tg.key(3), [-1, 3], 'float64');
    const xt = tg.tensor(x.data, [n, 3], 'float64', tg.backendInstance('cpu')!);
    const ref = empiricalNtk(model.apply as ApplyFn<Params>, params, xt, xt, { trace: true, blockSize: 5 }).dataSync();
    const got = readKernelMatrix(root, 'ntk').data;
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
    expect(err).toBeLessThan(1e-12);
    // The stored parameters are the seed's.
    const stored = tg.treeLeaves(storedParams(model, KernelStore.open(root)));
    tg.treeLeaves(params).forEach((p, i) => expect(sameBits(stored[i].dataSync(), p.dataSync())).toBe(true));
    await expect(createKernelStore(fresh('emp'), { model: spec, x1: x, mode: 'empirical', kernels: ['nngp', 'ntk'] })).rejects.toThrow(/NTK only/);
    // Given parameters (flat, tree order) instead of a seed: the seed-3 values give the same kernel.
    const flat = Float64Array.from(tg.treeLeaves(params).flatMap((p) => [...p.dataSync()]));
    const given = fresh('emp');
    await createKernelStore(given, { model: spec, x1: x, mode: 'empirical', blockSize: 5, params: flat, innerBlock: 5 });
    expect(KernelStore.open(given).meta.seed).toBeNull();
    await runLocal(given, { workers: 0 });
    expect(sameBits(readKernelMatrix(given, 'ntk').data, got)).toBe(true);
    await expect(createKernelStore(fresh('emp'), { model: spec, x1: x, mode: 'empirical', params: flat.subarray(1) })).rejects.toThrow(/flat params have \d+ values; the model's parameters have \d+/);
  });

  it('bad input is refused with the offending values named', async () => {
    const x = { shape: [4, 3], data: data(4, 3, 1) };
    await expect(createKernelStore(fresh('bad'), { model: SPEC, x1: x, x2: { shape: [4, 2], data: data(4, 2, 1) } })).rejects.toThrow(/x1 \[4,3\] and x2 \[4,2\]/);
    await expect(createKernelStore(fresh('bad'), { model: SPEC, x1: { shape: [4, 3], data: [1, 2] } })).rejects.toThrow(/shape \[4,3\] but 2 values/);
    await expect(createKernelStore(fresh('bad'), { model: SPEC, x1: x, blockSize: 0 })).rejects.toThrow(/blockSize/);
    await expect(createKernelStore(fresh('bad'), { model: SPEC, x1: { shape: [1, 1], data: [NaN] } })).rejects.toThrow(/non-finite/);
    const root = fresh('twice');
    await createKernelStore(root, { model: SPEC, x1: x });
    await expect(createKernelStore(root, { model: SPEC, x1: x })).rejects.toThrow(/already exists/);
    expect(() => KernelStore.open(work)).toThrow(/no zarr.json/);
  });
});

function blockIndex(store: KernelStore, row: number, col: number): number {
  for (let i = 0; i < store.blockCount; i++) {
    const b = store.block(i);
    if (b.row === row && b.col === col) return i;
  }
  throw new Error(`no block (${row}, ${col})`);
}

describe('.npy export', () => {
  it('round-trips through our reader; numpy reads the same bits', async () => {
    const x = { shape: [19, 4], data: data(19, 4, 10) };
    const root = fresh('npy');
    await createKernelStore(root, { model: SPEC, x1: x, blockSize: 6 });
    await runLocal(root, { workers: 0 });
    const file = path.join(work, 'k.npy');
    await exportNpy(root, 'ntk', file);
    const full = readKernelMatrix(root, 'ntk').data;
    const back = readNpy(file);
    expect(back.shape).toEqual([19, 19]);
    expect(sameBits(back.data, full)).toBe(true);
    const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.warn('SKIPPED: the numpy check of the .npy export (python3 with numpy is not available here)');
      return;
    }
    const py = spawnSync('python3', ['-c', `import numpy as np, sys; a = np.load(sys.argv[1]); assert a.dtype == np.float64 and a.shape == (19, 19), (a.dtype, a.shape); assert (a == a.T).all(); sys.stdout.write(a.tobytes().hex())`, file], { encoding: 'utf8' });
    expect(py.stderr).toBe('');
    expect(py.stdout).toBe(Buffer.from(full.buffer, full.byteOffset, full.byteLength).toString('hex'));
  });

  it('writeNpy refuses a count that does not match the shape', async () => {
    async function* rows() {
      yield new Float64Array(5);
    }
    await expect(writeNpy(path.join(work, 'bad.npy'), [2, 3], 'float64', rows())).rejects.toThrow(/got 5 values for shape \[2,3\]/);
  });
});

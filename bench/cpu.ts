/**
 * Suites `cpu` (engine core) and `webgpu` (WebGPU backend): float32 matmul and conv2d, forward
 * and forward+backward, ours through the public tensor API (tg.matmul, tg.conv2d, tg.grad)
 * against TensorFlow.js on the same inputs: tfjs-backend-cpu and tfjs-backend-wasm for `cpu`,
 * tfjs-backend-webgpu on the same adapter for `webgpu`. Every result (ours and the peers') is
 * checked against a float64 plain-loop reference: sampled entries for the products, full closed
 * forms for the gradients of sum(...).
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { compare, log, measureDefaults, measureInterleaved, randn, selected, type BenchOptions, type Contender, type MeasureOptions, type PeerResult, type Report, type Suite } from './harness.ts';
import { oursBackend, oursCall, upload } from './ours.ts';
import { loadJax, type Jax } from './peers/jax.ts';
import { numpyAvailable, numpyMatmul } from './peers/numpy.ts';
import { useTfjs, type Tf, type TfBackend } from './peers/tfjs.ts';
import { installNodeGpu, useTfjsWebgpu } from './peers/tfjs-webgpu.ts';

const TOL = 1e-4;
type TfPeer = TfBackend | 'tfjs-webgpu';
type Peer = TfPeer | 'jax-js-wasm' | 'numpy';
type JaxArray = import('@jax-js/jax').Array;

const usePeer = (which: TfPeer): Promise<Tf> => (which === 'tfjs-webgpu' ? useTfjsWebgpu() : useTfjs(which));

/** What one case needs: input data, our computation, the peer's, a checker and its work in GFLOP. */
interface Case {
  name: string;
  size: string;
  gflop: number;
  /** Inputs (float32 for every peer; a float64 case runs ours and numpy only). */
  inputs: { data: Float32Array | Float64Array; shape: number[] }[];
  ours: (xs: Tensor[]) => Tensor | Tensor[];
  /** The tfjs computation (absent: no tfjs row, as for float64). */
  peer?: (tf: Tf, xs: import('@tensorflow/tfjs').Tensor[]) => import('@tensorflow/tfjs').Tensor[];
  /** The jax-js computation, where the case has one (its inputs are consumed: pass .ref). */
  jax?: (jax: Jax, xs: JaxArray[]) => JaxArray[];
  /** An n x n x n product numpy can time: A and B are inputs 0 and 1; entries `idx` are checked against `ref`. */
  numpy?: { n: number; idx: number[]; ref: () => number[] };
  /** Why a peer cannot run this case, if it cannot. */
  unsupported?: (which: Peer) => string | undefined;
  check: (outs: ArrayLike<number>[]) => { ok: boolean; relErr: number };
  /** Measurement overrides for slow peers (tfjs-cpu conv backward takes ~17 s a run). */
  peerMeasure?: (which: Peer, quick: boolean) => Partial<MeasureOptions>;
}

// ------------------------------------------------------------------ references (float64, plain loops)

/** Deterministic sample of `count` indices below n. */
function sampleIndices(n: number, count: number, seed: number): number[] {
  const u = randn(count, seed);
  return Array.from(u, (v) => Math.min(n - 1, Math.floor(Math.abs(Math.sin(v * 1e4 + seed)) * n)));
}

function matmulRef(a: Float32Array | Float64Array, b: Float32Array | Float64Array, n: number, idx: number[]): number[] {
  return idx.map((e) => {
    const i = Math.floor(e / n), j = e % n;
    let s = 0;
    for (let p = 0; p < n; p++) s += a[i * n + p] * b[p * n + j];
    return s;
  });
}

/** grad of sum(A B): dA[i,p] = sum_j B[p,j]; dB[p,j] = sum_i A[i,p]. */
function matmulGradRef(a: Float32Array, b: Float32Array, n: number): [Float64Array, Float64Array] {
  const da = new Float64Array(n * n), db = new Float64Array(n * n);
  for (let p = 0; p < n; p++) {
    let rs = 0, cs = 0;
    for (let j = 0; j < n; j++) rs += b[p * n + j];
    for (let i = 0; i < n; i++) cs += a[i * n + p];
    for (let i = 0; i < n; i++) da[i * n + p] = rs;
    for (let j = 0; j < n; j++) db[p * n + j] = cs;
  }
  return [da, db];
}

interface ConvGeom { N: number; H: number; W: number; C: number; KH: number; KW: number; O: number; pt: number; pl: number }

/** SAME, stride 1: output (n, oh, ow, o) reads x[n, oh + kh - pt, ow + kw - pl, c]. */
function convRef(x: Float32Array, w: Float32Array, g: ConvGeom, idx: number[]): number[] {
  const { H, W, C, KH, KW, O, pt, pl } = g;
  return idx.map((e) => {
    const o = e % O, ow = Math.floor(e / O) % W, oh = Math.floor(e / (O * W)) % H, n = Math.floor(e / (O * W * H));
    let s = 0;
    for (let kh = 0; kh < KH; kh++) {
      const ih = oh + kh - pt;
      if (ih < 0 || ih >= H) continue;
      for (let kw = 0; kw < KW; kw++) {
        const iw = ow + kw - pl;
        if (iw < 0 || iw >= W) continue;
        for (let c = 0; c < C; c++) s += x[((n * H + ih) * W + iw) * C + c] * w[((kh * KW + kw) * C + c) * O + o];
      }
    }
    return s;
  });
}

/** grad of sum(conv(x, w)) w.r.t. x (full) and w (full). */
function convGradRef(x: Float32Array, w: Float32Array, g: ConvGeom): [Float64Array, Float64Array] {
  const { N, H, W, C, KH, KW, O, pt, pl } = g;
  const wsum = new Float64Array(KH * KW * C); // sum over o of w[kh, kw, c, o]
  for (let t = 0; t < KH * KW * C; t++) for (let o = 0; o < O; o++) wsum[t] += w[t * O + o];
  const dx = new Float64Array(N * H * W * C);
  const xsum = new Float64Array(KH * KW * C); // sum over valid (n, oh, ow) of x[n, oh+kh-pt, ow+kw-pl, c]
  for (let n = 0; n < N; n++) for (let ih = 0; ih < H; ih++) for (let iw = 0; iw < W; iw++) {
    for (let kh = 0; kh < KH; kh++) {
      const oh = ih - kh + pt;
      if (oh < 0 || oh >= H) continue;
      for (let kw = 0; kw < KW; kw++) {
        const ow = iw - kw + pl;
        if (ow < 0 || ow >= W) continue;
        const xi = ((n * H + ih) * W + iw) * C, ti = (kh * KW + kw) * C;
        for (let c = 0; c < C; c++) {
          dx[xi + c] += wsum[ti + c];
          xsum[ti + c] += x[xi + c];
        }
      }
    }
  }
  const dw = new Float64Array(KH * KW * C * O);
  for (let t = 0; t < KH * KW * C; t++) for (let o = 0; o < O; o++) dw[t * O + o] = xsum[t];
  return [dx, dw];
}

/** Worst of several comparisons. */
function worst(...rs: { ok: boolean; relErr: number }[]): { ok: boolean; relErr: number } {
  return { ok: rs.every((r) => r.ok), relErr: Math.max(...rs.map((r) => r.relErr)) };
}

// ------------------------------------------------------------------ cases

function matmulCases(quick: boolean, sizes: readonly number[]): Case[] {
  return sizes.flatMap((n): Case[] => {
    const a = randn(n * n, 11 + n), b = randn(n * n, 12 + n);
    const idx = sampleIndices(n * n, 256, n);
    const inputs = [{ data: a, shape: [n, n] }, { data: b, shape: [n, n] }];
    const size = `${n}x${n}x${n}`;
    const slowCpu = (which: Peer) => (which === 'tfjs-cpu' && n >= 1024 ? { repeats: quick ? 1 : 3 } : {});
    return [
      {
        name: 'matmul', size, gflop: (2 * n ** 3) / 1e9, inputs,
        ours: ([x, y]) => tg.matmul(x, y),
        peer: (tf, [x, y]) => [tf.matMul(x as import('@tensorflow/tfjs').Tensor2D, y as import('@tensorflow/tfjs').Tensor2D)],
        jax: (jax, [x, y]) => [jax.numpy.matmul(x, y)],
        numpy: { n, idx, ref: () => matmulRef(a, b, n, idx) },
        check: ([c]) => compare(idx.map((e) => c[e]), matmulRef(a, b, n, idx), TOL),
        peerMeasure: slowCpu,
      },
      {
        name: 'matmul_fwd_bwd', size, gflop: (6 * n ** 3) / 1e9, inputs,
        ours: ([x, y]) => tg.grad((p: Tensor, q: Tensor) => tg.sum(tg.matmul(p, q)), { argnums: [0, 1] })(x, y),
        peer: (tf, [x, y]) => tf.grads((p, q) => tf.sum(tf.matMul(p as import('@tensorflow/tfjs').Tensor2D, q as import('@tensorflow/tfjs').Tensor2D)))([x, y]),
        check: ([da, db]) => {
          const [ra, rb] = matmulGradRef(a, b, n);
          return worst(compare(da, ra, TOL), compare(db, rb, TOL));
        },
        peerMeasure: slowCpu,
      },
    ];
  });
}

/** float64 matmul (our CPU backend and numpy only: the other peers have no float64). */
function matmul64Cases(sizes: readonly number[]): Case[] {
  return sizes.map((n): Case => {
    const a = Float64Array.from(randn(n * n, 31 + n)), b = Float64Array.from(randn(n * n, 32 + n));
    const idx = sampleIndices(n * n, 256, n + 1);
    const ref = () => matmulRef(a, b, n, idx);
    return {
      name: 'matmul_f64', size: `${n}x${n}x${n}`, gflop: (2 * n ** 3) / 1e9,
      inputs: [{ data: a, shape: [n, n] }, { data: b, shape: [n, n] }],
      ours: ([x, y]) => tg.matmul(x, y),
      numpy: { n, idx, ref },
      // float64 results are checked to float64-level agreement, not the float32 TOL.
      check: ([c]) => compare(idx.map((e) => c[e]), ref(), 1e-12),
    };
  });
}

function convCases(quick: boolean): Case[] {
  const g: ConvGeom = { N: 16, H: 32, W: 32, C: 16, KH: 3, KW: 3, O: 32, pt: 1, pl: 1 };
  const x = randn(g.N * g.H * g.W * g.C, 21), w = randn(g.KH * g.KW * g.C * g.O, 22, 0.25);
  const inputs = [{ data: x, shape: [g.N, g.H, g.W, g.C] }, { data: w, shape: [g.KH, g.KW, g.C, g.O] }];
  const size = '16x32x32x16->32,3x3,SAME';
  const fwdGflop = (2 * g.N * g.H * g.W * g.O * g.KH * g.KW * g.C) / 1e9;
  const idx = sampleIndices(g.N * g.H * g.W * g.O, 256, 7);
  // tfjs-cpu's conv backward takes ~17 s a run on this machine: one or two runs, no warm-up beyond the first.
  const slow = (which: Peer): Partial<MeasureOptions> => (which === 'tfjs-cpu' ? { slowMs: 1_000, repeats: quick ? 1 : 2, budgetMs: 30_000 } : {});
  type T4 = import('@tensorflow/tfjs').Tensor4D;
  return [
    {
      name: 'conv2d', size, gflop: fwdGflop, inputs,
      ours: ([a, b]) => tg.conv2d(a, b, { padding: 'SAME' }),
      peer: (tf, [a, b]) => [tf.conv2d(a as T4, b as T4, 1, 'same')],
      check: ([o]) => compare(idx.map((e) => o[e]), convRef(x, w, g, idx), TOL),
    },
    {
      name: 'conv2d_fwd_bwd', size, gflop: 3 * fwdGflop, inputs,
      ours: ([a, b]) => tg.grad((p: Tensor, q: Tensor) => tg.sum(tg.conv2d(p, q, { padding: 'SAME' })), { argnums: [0, 1] })(a, b),
      peer: (tf, [a, b]) => tf.grads((p, q) => tf.sum(tf.conv2d(p as T4, q as T4, 1, 'same')))([a, b]),
      unsupported: (which) => which === 'tfjs-wasm'
        ? 'tfjs-wasm in Node has no Conv2DBackpropFilter kernel (the gradient w.r.t. the kernel); conv2d_fwd_bwd_x shows what it can do (the input gradient)'
        : undefined,
      check: ([dx, dw]) => {
        const [rx, rw] = convGradRef(x, w, g);
        return worst(compare(dx, rx, TOL), compare(dw, rw, TOL));
      },
      peerMeasure: slow,
    },
    {
      name: 'conv2d_fwd_bwd_x', size, gflop: 2 * fwdGflop, inputs,
      ours: ([a, b]) => tg.grad((p: Tensor) => tg.sum(tg.conv2d(p, b, { padding: 'SAME' })))(a),
      peer: (tf, [a, b]) => [tf.grad((p) => tf.sum(tf.conv2d(p as T4, b as T4, 1, 'same')))(a)],
      check: ([dx]) => compare(dx, convGradRef(x, w, g)[0], TOL),
      peerMeasure: slow,
    },
  ];
}

// ------------------------------------------------------------------ running

/** A checked, ready-to-time computation, or the reason it cannot be timed (null time in the rows). */
type Prepared = { contender: Contender; relErr: number; dispose: () => void } | { skip: string };

async function preparePeer(c: Case, which: Peer, opts: BenchOptions): Promise<Prepared> {
  const why = c.unsupported?.(which);
  if (why !== undefined) {
    log(`  ${which.padEnd(9)} not measured: ${why}`);
    return { skip: 'not supported (see stderr)' };
  }
  if (which === 'jax-js-wasm') return prepareJax(c, opts);
  if (which === 'numpy') return { skip: 'timed in python after the others' };
  const peerFn = c.peer;
  if (peerFn === undefined || c.inputs.some((i) => !(i.data instanceof Float32Array))) return { skip: 'not supported (float64)' };
  let tf: Tf;
  try {
    tf = await usePeer(which);
  } catch (e) {
    log(`  ${which.padEnd(9)} not available: ${(e as Error).message.split('\n')[0]}`);
    return { skip: 'not available (see stderr)' };
  }
  const xs = c.inputs.map((i) => tf.tensor(i.data, i.shape, 'float32'));
  const dispose = () => tf.dispose(xs);
  // tfjs has one global backend: switch to this one before every call, as the calls interleave.
  const call = async () => {
    await usePeer(which);
    const outs = tf.tidy(() => peerFn(tf, xs));
    try {
      return await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
    } finally {
      tf.dispose(outs);
    }
  };
  try {
    const t0 = performance.now();
    const values = await call();
    const firstMs = performance.now() - t0;
    const verdict = c.check(values);
    if (!verdict.ok) {
      log(`  ${which.padEnd(9)} WRONG ANSWER (max rel err ${verdict.relErr.toExponential(2)} > ${TOL}); its time is excluded`);
      dispose();
      return { skip: `wrong answer (rel err ${verdict.relErr.toExponential(1)})` };
    }
    return { contender: { name: which, call, firstMs, m: measureDefaults(opts, c.peerMeasure?.(which, opts.quick)) }, relErr: verdict.relErr, dispose };
  } catch (e) {
    log(`  ${which.padEnd(9)} failed: ${(e as Error).message.split('\n')[0]}`);
    dispose();
    return { skip: 'failed (see stderr)' };
  }
}

async function prepareJax(c: Case, opts: BenchOptions): Promise<Prepared> {
  const fn = c.jax;
  if (fn === undefined) return { skip: 'not supported' };
  let jax: Jax;
  try {
    jax = await loadJax();
  } catch (e) {
    log(`  jax-js    not available: ${(e as Error).message.split('\n')[0]}`);
    return { skip: 'not available (see stderr)' };
  }
  const xs = c.inputs.map((i) => jax.numpy.array(i.data as Float32Array, { shape: i.shape }));
  const dispose = () => xs.forEach((x) => x.dispose());
  const call = async () => Promise.all(fn(jax, xs.map((x) => x.ref)).map((o) => o.data() as Promise<Float32Array>));
  try {
    const t0 = performance.now();
    const values = await call();
    const firstMs = performance.now() - t0;
    const verdict = c.check(values);
    if (!verdict.ok) {
      log(`  jax-js    WRONG ANSWER (max rel err ${verdict.relErr.toExponential(2)} > ${TOL}); its time is excluded`);
      dispose();
      return { skip: `wrong answer (rel err ${verdict.relErr.toExponential(1)})` };
    }
    return { contender: { name: 'jax-js-wasm', call, firstMs, m: measureDefaults(opts) }, relErr: verdict.relErr, dispose };
  } catch (e) {
    log(`  jax-js    failed: ${(e as Error).message.split('\n')[0]}`);
    dispose();
    return { skip: 'failed (see stderr)' };
  }
}

/** numpy's own median (timed inside python), checked on sampled entries; null with a reason when it cannot run. */
function runNumpy(c: Case, opts: BenchOptions): PeerResult {
  if (c.numpy === undefined) return ['numpy', null, 'not supported'];
  if (!numpyAvailable()) {
    log('  numpy     not available (python3 -c "import numpy" fails)');
    return ['numpy', null, 'not available (see stderr)'];
  }
  try {
    const [a, b] = c.inputs.map((i) => i.data);
    const { ms, values } = numpyMatmul(a, b, c.numpy.n, opts.quick ? 3 : 7, c.numpy.idx);
    const tol = a instanceof Float64Array ? 1e-12 : TOL;
    const verdict = compare(values, c.numpy.ref(), tol);
    if (!verdict.ok) {
      log(`  numpy     WRONG ANSWER (max rel err ${verdict.relErr.toExponential(2)} > ${tol}); its time is excluded`);
      return ['numpy', null, `wrong answer (rel err ${verdict.relErr.toExponential(1)})`];
    }
    log(`  numpy     ${ms.toFixed(1)} ms (median, timed in python; rel err ${verdict.relErr.toExponential(1)})`);
    return ['numpy', ms];
  } catch (e) {
    log(`  numpy     failed: ${(e as Error).message.split('\n')[0]}`);
    return ['numpy', null, 'failed (see stderr)'];
  }
}

async function prepareOurs(c: Case, name: string, opts: BenchOptions, report: Report): Promise<Prepared | null> {
  const backend = await oursBackend(name);
  if (backend === null) return null;
  const xs = c.inputs.map((i) => upload(i.data, i.shape, backend));
  if (xs.some((x) => x.dtype !== (c.inputs[0].data instanceof Float64Array ? 'float64' : 'float32'))) {
    tg.dispose(xs);
    return { skip: `backend '${name}' has no float64` };
  }
  const dispose = () => tg.dispose(xs);
  const call = oursCall(() => c.ours(xs));
  const t0 = performance.now();
  const values = await call();
  const firstMs = performance.now() - t0;
  const verdict = c.check(values);
  if (!verdict.ok) {
    report.fail(`${c.name} ${c.size} ours (${name}): max rel err ${verdict.relErr.toExponential(2)} > ${TOL}`);
    dispose();
    return { skip: 'wrong answer' };
  }
  return { contender: { name: `ours/${name}`, call, firstMs, m: measureDefaults(opts) }, relErr: verdict.relErr, dispose };
}

async function runCase(c: Case, opts: BenchOptions, report: Report, PEERS: readonly Peer[]): Promise<void> {
  log(`${c.name} ${c.size}`);
  const ours = new Map<string, Prepared>();
  for (const name of opts.backends) {
    const p = await prepareOurs(c, name, opts, report);
    if (p !== null) ours.set(name, p);
  }
  const peers = new Map<Peer, Prepared>();
  for (const which of PEERS) peers.set(which, await preparePeer(c, which, opts));
  const all = [...ours.values(), ...peers.values()];
  const timings = await measureInterleaved(all.flatMap((p) => ('contender' in p ? [p.contender] : [])));
  for (const p of all) {
    if (!('contender' in p)) continue;
    p.dispose();
    const t = timings.get(p.contender.name)!;
    log(`  ${p.contender.name.padEnd(9)} ${t.median.toFixed(1)} ms (median of ${t.samples.length}; rel err ${p.relErr.toExponential(1)})`);
  }
  const peerRows: PeerResult[] = PEERS.map((which): PeerResult => {
    if (which === 'numpy') return runNumpy(c, opts);
    const p = peers.get(which)!;
    return 'contender' in p ? [which, timings.get(which)!.median] : [which, null, p.skip];
  }).filter(([, ms, note]) => ms !== null || note !== 'not supported (float64)');
  for (const [name, p] of ours) {
    report.add({ case: c.name, size: c.size, backend: name }, 'contender' in p ? timings.get(p.contender.name)!.median : null, peerRows, { gflop: c.gflop });
  }
}

export const cpuSuite: Suite = {
  name: 'cpu',
  description: 'float32 matmul 256/512/1024 (vs tfjs-cpu, tfjs-wasm, jax-js-wasm, numpy), float64 matmul 1024 (vs numpy), conv2d 16x32x32x16->32 3x3 SAME forward and forward+backward (vs tfjs-cpu, tfjs-wasm)',
  async run(opts, report) {
    for (const c of [...matmulCases(opts.quick, [256, 512, 1024]), ...matmul64Cases([1024]), ...convCases(opts.quick)]) {
      const peers: Peer[] = ['tfjs-cpu', 'tfjs-wasm', ...(c.jax ? ['jax-js-wasm' as const] : []), ...(c.numpy ? ['numpy' as const] : [])];
      if (selected(opts, c.name)) await runCase(c, opts, report, peers);
    }
  },
};

export const webgpuSuite: Suite = {
  name: 'webgpu',
  description: 'the cpu cases plus matmul 2048 on our WebGPU backend vs tfjs-webgpu on the same adapter',
  async run(opts, report) {
    // One Dawn instance for both: navigator.gpu must exist before our backend acquires its device.
    await installNodeGpu();
    const gpuOpts = { ...opts, backends: ['webgpu'] };
    for (const c of [...matmulCases(opts.quick, [256, 512, 1024, 2048]), ...convCases(opts.quick)]) {
      if (selected(opts, c.name)) await runCase(c, gpuOpts, report, ['tfjs-webgpu']);
    }
  },
};

/**
 * Suite `ntk` (linearize): the empirical NTK of ReLU MLPs in the NTK parameterization
 * (h = x (sqrt(2)/sqrt(n)) w + 0.1 b, as test/linearize/nets.ts `mlp`), float32, all three of our
 * implementations ('structured', 'contraction', 'ntkvp'). Every implementation (ours and the
 * peers) computes the layer as (sqrt(2)/sqrt(n)) (x w) + 0.1 b, the same function written the way
 * neural-tangents' Dense does: the scale multiplies the [N, out] product instead of the
 * [in, out] weight, which saves a weight-sized pass in every forward and backward walk.
 *
 *  (a) the FFNTK case (Novak et al. 2022): 3072 -> 2048 x3 -> k, N = 16 and 128, k = 1 and 8.
 *      Structured against our own contraction and NTK-vector products. The contraction at
 *      N=128, k=8 is ~15 TFLOP with a 60 GB Jacobian: what cannot finish is measured at a small N
 *      (Jacobian <= ~1 GB; ntkvp: <= 8 kernel columns) and scaled linearly in N (exponent 1). The
 *      true cost grows faster (the contraction's Gram part is quadratic in N; each ntkvp column
 *      costs more at larger N), so a scaled time is a lower bound and so is the speedup.
 *  (b) the peer case: 784 -> 512 x3 -> 1 (P = 927,745), N = 16: ours against @jax-js/jax
 *      (per-sample gradients by vmap(grad), contracted, all under jit, Wasm) and tfjs-backend-wasm
 *      (16 backward passes, then J J^T).
 *
 * Checks: (a) Theta v against a float64 NTK-vector product (one VJP + one JVP, no Jacobian) for
 * a random v; (b) every entry against our float64 contraction. Tolerance 1e-4 of the largest
 * reference magnitude.
 */
import * as tg from '../engine/index.ts';
import type { Backend, Tensor } from '../engine/index.ts';
import { empiricalNtk, ntkVp, type NtkMethod } from '../linearize/ntk.ts';
import { compare, log, measure, measureDefaults, measureInterleaved, randn, selected, type BenchOptions, type Contender, type PeerResult, type Report, type Suite } from './harness.ts';
import { oursBackend, oursCall, upload } from './ours.ts';
import { loadJax } from './peers/jax.ts';
import { useTfjs } from './peers/tfjs.ts';

const TOL = 1e-4;

interface Mlp {
  dims: number[];
  /** Shared parameter values: w_i [dims[i], dims[i+1]] and b_i [dims[i+1]], N(0, 1). */
  w: Float32Array[];
  b: Float32Array[];
  count: number;
}

function makeMlp(dims: number[], seed: number): Mlp {
  const w = dims.slice(1).map((d, i) => randn(dims[i] * d, seed + 2 * i));
  const b = dims.slice(1).map((d, i) => randn(d, seed + 2 * i + 1));
  const count = w.reduce((s, a) => s + a.length, 0) + b.reduce((s, a) => s + a.length, 0);
  return { dims, w, b, count };
}

type Params = { w: Tensor; b: Tensor }[];

function oursParams(m: Mlp, backend: Backend): Params {
  return m.w.map((w, i) => ({ w: upload(w, [m.dims[i], m.dims[i + 1]], backend), b: upload(m.b[i], [m.dims[i + 1]], backend) }));
}

function oursApply(dims: number[]) {
  return (p: Params, x: Tensor): Tensor => {
    let h = x;
    p.forEach((layer, i) => {
      const pre = tg.add(tg.mul(tg.matmul(h, layer.w), Math.sqrt(2 / dims[i])), tg.mul(layer.b, 0.1));
      h = i < p.length - 1 ? tg.relu(pre) : pre;
    });
    return h;
  };
}

const shapeOf = (m: Mlp) => `${m.dims[0]}-${m.dims.slice(1, -1).join('-')}-${m.dims[m.dims.length - 1]}`;

// ------------------------------------------------------------------ references (float64, our CPU backend)

function float64Params(m: Mlp): Params {
  return m.w.map((w, i) => ({
    w: tg.keep(tg.tensor(Float64Array.from(w), [m.dims[i], m.dims[i + 1]], 'float64')),
    b: tg.keep(tg.tensor(Float64Array.from(m.b[i]), [m.dims[i + 1]], 'float64')),
  }));
}

/** A probe of the kernel: v and Theta v in float64 by one VJP and one JVP (no Jacobian, no kernel matrix). */
function kernelProbe(m: Mlp, x: Float32Array, n: number): { v: Float64Array; thetaV: Float64Array } {
  const cpu = tg.useBackend('cpu');
  const k = m.dims[m.dims.length - 1];
  const v = Float64Array.from(randn(n * k, 97 + n));
  const params = float64Params(m);
  try {
    const thetaV = tg.tidy(() => {
      const x64 = tg.tensor(Float64Array.from(x.subarray(0, n * m.dims[0])), [n, m.dims[0]], 'float64', cpu);
      return ntkVp(oursApply(m.dims), params, x64)(tg.tensor(v, [n, k], 'float64', cpu));
    });
    const out = thetaV.dataSync() as Float64Array;
    thetaV.dispose();
    return { v, thetaV: out };
  } finally {
    tg.dispose(params);
  }
}

/** Theta v in float64 for a [nk, nk] kernel. */
function applyKernel(theta: ArrayLike<number>, v: Float64Array): Float64Array {
  const d = v.length;
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += theta[i * d + j] * v[j];
    out[i] = s;
  }
  return out;
}

// ------------------------------------------------------------------ ours

/** Times one of our methods on the first n rows of x; checks Theta v against the float64 probe. */
async function timeOurs(
  m: Mlp, x: Float32Array, n: number, method: NtkMethod, backend: Backend, opts: BenchOptions, report: Report, label: string,
  reference: (theta: Float32Array) => { ok: boolean; relErr: number },
): Promise<number | null> {
  const params = oursParams(m, backend);
  const xt = upload(x.subarray(0, n * m.dims[0]), [n, m.dims[0]], backend);
  try {
    const call = oursCall(() => empiricalNtk(oursApply(m.dims), params, xt, xt, { method, blockSize: n }));
    const t0 = performance.now();
    const [theta] = await call();
    const firstMs = performance.now() - t0;
    const verdict = reference(theta);
    if (!verdict.ok) {
      report.fail(`${label}: ours '${method}' max rel err ${verdict.relErr.toExponential(2)} > ${TOL}`);
      return null;
    }
    const t = await measure(call, measureDefaults(opts, { slowMs: 2_000, budgetMs: opts.quick ? 4_000 : 20_000 }), firstMs);
    log(`  ours ${method.padEnd(11)} N=${String(n).padEnd(3)} ${t.median.toFixed(1)} ms (median of ${t.samples.length}; rel err ${verdict.relErr.toExponential(1)})`);
    return t.median;
  } finally {
    tg.dispose([params, xt]);
  }
}

// ------------------------------------------------------------------ (a) FFNTK

/**
 * The N at which a method is actually run for a case of N samples and k outputs: contraction
 * while its per-block Jacobian [N k, P] stays under ~1.1 GB of float32; ntkvp while it needs at
 * most 8 VJP+JVP pairs (one per kernel column, each a full pass over the 14.7M weights, ~1 s).
 */
function runN(method: 'contraction' | 'ntkvp', n: number, k: number, p: number): number {
  let m = n;
  const fits = (v: number) => (method === 'contraction' ? v * k * p * 4 <= 1.1e9 : v * k <= 8);
  while (m > 1 && !fits(m)) m = Math.floor(m / 2);
  return m;
}

const ffntkModels = new Map<number, Mlp>();
/** Measured (method, k, N, backend) times, reused when several cases scale from the same run. */
const smallRuns = new Map<string, number | null>();
const FFNTK_INPUTS = randn(128 * 3072, 2000);

async function ffntkCase(n: number, k: number, opts: BenchOptions, report: Report): Promise<void> {
  if (!ffntkModels.has(k)) ffntkModels.set(k, makeMlp([3072, 2048, 2048, 2048, k], 1000 + k));
  const m = ffntkModels.get(k)!;
  const x = FFNTK_INPUTS.subarray(0, n * 3072);
  const size = `N=${n},k=${k},${shapeOf(m)},P=${m.count}`;
  log(`ntk_ffntk ${size}`);
  // One float64 probe per N a method runs at (the references of scaled runs are at their own N).
  const probes = new Map<number, { v: Float64Array; thetaV: Float64Array }>();
  const reference = (nn: number) => (theta: Float32Array) => {
    if (!probes.has(nn)) probes.set(nn, kernelProbe(m, x, nn));
    const { v, thetaV } = probes.get(nn)!;
    return compare(applyKernel(theta, v), thetaV, TOL);
  };
  for (const name of opts.backends) {
    const backend = await oursBackend(name);
    if (backend === null) continue;
    const label = `ntk_ffntk ${size} (${name})`;
    const structured = await timeOurs(m, x, n, 'structured', backend, opts, report, label, reference(n));
    const peers: PeerResult[] = [];
    for (const method of ['contraction', 'ntkvp'] as const) {
      const small = runN(method, n, k, m.count);
      const key = `${method}/${k}/${small}/${name}`;
      if (!smallRuns.has(key)) smallRuns.set(key, await timeOurs(m, x, small, method, backend, opts, report, label, reference(small)));
      const ms = smallRuns.get(key)!;
      if (small === n || ms === null) {
        peers.push([`ours-${method}`, ms]);
        continue;
      }
      const why = method === 'contraction'
        ? `its per-block Jacobian would be ${(n * k * m.count * 4 / 1e9).toFixed(1)} GB; the Gram part grows as N^2`
        : `it needs N k = ${n * k} VJP+JVP pairs of ~1 s; each pair also grows with N`;
      const note = `${method} measured at N=${small}: ${ms.toFixed(0)} ms, scaled by (N/${small})^1 (a lower bound)`;
      log(`  ours ${method} at N=${n} not run (${why}); ${note}`);
      peers.push([`ours-${method}-scaled`, ms * (n / small), note]);
    }
    report.add({ case: 'ntk_ffntk_structured', size, backend: name }, structured, peers);
    if (structured !== null) {
      for (const [peer, ms] of peers) if (ms !== null && ms !== undefined) log(`  speedup structured vs ${peer}: ${(ms / structured).toFixed(1)}x`);
    }
  }
}

// ------------------------------------------------------------------ (b) the peer case

/** Our float64 contraction on the CPU: the reference for every entry. */
function contractionReference(m: Mlp, x: Float32Array, n: number): Float64Array {
  const cpu = tg.useBackend('cpu');
  const params = float64Params(m);
  try {
    const theta = tg.tidy(() => {
      const x64 = tg.tensor(Float64Array.from(x), [n, m.dims[0]], 'float64', cpu);
      return empiricalNtk(oursApply(m.dims), params, x64, x64, { method: 'contraction' });
    });
    const out = theta.dataSync() as Float64Array;
    theta.dispose();
    return out;
  } finally {
    tg.dispose(params);
  }
}

/** jax-js: per-sample gradients by vmap(grad), contracted leaf by leaf, all under one jit (Wasm). */
async function jaxNtk(m: Mlp, x: Float32Array, n: number): Promise<() => Promise<Float32Array>> {
  const jax = await loadJax();
  const np = jax.numpy;
  const L = m.w.length;
  const params: Record<string, import('@jax-js/jax').Array> = {};
  m.w.forEach((w, i) => {
    params[`w${i}`] = np.array(w, { shape: [m.dims[i], m.dims[i + 1]] });
    params[`b${i}`] = np.array(m.b[i], { shape: [m.dims[i + 1]] });
  });
  const xs = np.array(x, { shape: [n, m.dims[0]] });
  type A = import('@jax-js/jax').Array;
  const mlp = (p: Record<string, A>, h: A): A => {
    for (let i = 0; i < L; i++) {
      const pre = np.matmul(h, p[`w${i}`]).mul(Math.sqrt(2 / m.dims[i])).add(p[`b${i}`].mul(0.1));
      h = i < L - 1 ? np.maximum(pre, 0) : pre;
    }
    return h;
  };
  const single = (p: Record<string, A>, xi: A): A => mlp(p, xi.reshape([1, m.dims[0]])).sum();
  const ntk = jax.jit((p: Record<string, A>, batch: A): A => {
    const g = jax.vmap(jax.grad(single), [null, 0])(p, batch) as Record<string, A>;
    let total: A | null = null;
    for (const key of Object.keys(g).sort()) {
      const gi = g[key].reshape([n, -1]);
      const t = np.matmul(gi.ref, gi.transpose());
      total = total === null ? t : total.add(t);
    }
    return total!;
  });
  return async () => (await ntk(jax.tree.ref(params), xs.ref).data()) as Float32Array;
}

/** tfjs-backend-wasm: one backward pass per sample (per-sample gradients), then J J^T. */
async function tfjsNtk(m: Mlp, x: Float32Array, n: number): Promise<{ call: () => Promise<Float32Array>; dispose: () => void }> {
  const tf = await useTfjs('tfjs-wasm');
  type T = import('@tensorflow/tfjs').Tensor;
  const L = m.w.length;
  const params: T[] = [];
  m.w.forEach((w, i) => params.push(tf.tensor2d(w, [m.dims[i], m.dims[i + 1]]), tf.tensor1d(m.b[i])));
  const xs = tf.tensor2d(x, [n, m.dims[0]]);
  const mlp = (p: T[], xi: T): T => {
    let h = xi;
    for (let i = 0; i < L; i++) {
      const pre = tf.add(tf.mul(tf.matMul(h, p[2 * i]), Math.sqrt(2 / m.dims[i])), tf.mul(p[2 * i + 1], 0.1));
      h = i < L - 1 ? tf.relu(pre) : pre;
    }
    return h;
  };
  const call = async () => {
    await useTfjs('tfjs-wasm'); // tfjs has one global backend; another suite may have switched it
    const theta = tf.tidy(() => {
      const rows: T[] = [];
      for (let i = 0; i < n; i++) {
        const xi = tf.slice(xs, [i, 0], [1, m.dims[0]]);
        const grads = tf.grads((...p: T[]) => tf.sum(mlp(p, xi)))(params);
        rows.push(tf.concat(grads.map((g) => tf.reshape(g, [-1]))));
      }
      const jac = tf.stack(rows) as import('@tensorflow/tfjs').Tensor2D;
      return tf.matMul(jac, jac, false, true);
    });
    try {
      return (await theta.data()) as Float32Array;
    } finally {
      theta.dispose();
    }
  };
  return { call, dispose: () => tf.dispose([...params, xs]) };
}

/** A checked contender for the interleaved timing, or why it is excluded. */
type Prepared = { contender: Contender; relErr: number; dispose: () => void } | { skip: string };

/** `compiles`: the first call compiles (jit), so it is never counted as a sample. */
async function preparePeer(name: string, make: () => Promise<{ call: () => Promise<Float32Array>; dispose: () => void }>, ref: Float64Array, opts: BenchOptions, compiles = false): Promise<Prepared> {
  let made: { call: () => Promise<Float32Array>; dispose: () => void } | undefined;
  try {
    made = await make();
    const t0 = performance.now();
    const got = await made.call();
    const firstMs = performance.now() - t0;
    const verdict = compare(got, ref, TOL);
    if (!verdict.ok) {
      log(`  ${name}: WRONG ANSWER (max rel err ${verdict.relErr.toExponential(2)} > ${TOL}); its time is excluded`);
      made.dispose();
      return { skip: `wrong answer (rel err ${verdict.relErr.toExponential(1)})` };
    }
    return { contender: { name, call: made.call, firstMs: compiles ? undefined : firstMs, m: measureDefaults(opts) }, relErr: verdict.relErr, dispose: made.dispose };
  } catch (e) {
    log(`  ${name}: failed: ${(e as Error).message.split('\n')[0]}`);
    made?.dispose();
    return { skip: 'failed (see stderr)' };
  }
}

function prepareOurs(m: Mlp, x: Float32Array, n: number, method: NtkMethod, backend: Backend, name: string, opts: BenchOptions, report: Report, ref: Float64Array): Promise<Prepared> {
  const params = oursParams(m, backend);
  const xt = upload(x, [n, m.dims[0]], backend);
  const dispose = () => tg.dispose([params, xt]);
  const call = oursCall(() => empiricalNtk(oursApply(m.dims), params, xt, xt, { method, blockSize: n }));
  return (async (): Promise<Prepared> => {
    const t0 = performance.now();
    const [theta] = await call();
    const firstMs = performance.now() - t0;
    const verdict = compare(theta, ref, TOL);
    if (!verdict.ok) {
      report.fail(`ntk_mlp784 (${name}): ours '${method}' max rel err ${verdict.relErr.toExponential(2)} > ${TOL}`);
      dispose();
      return { skip: 'wrong answer' };
    }
    return { contender: { name: `ours-${method}/${name}`, call, firstMs, m: measureDefaults(opts) }, relErr: verdict.relErr, dispose };
  })();
}

async function peerCase(opts: BenchOptions, report: Report): Promise<void> {
  const n = 16;
  const m = makeMlp([784, 512, 512, 512, 1], 3000);
  const x = randn(n * 784, 4000);
  const size = `N=${n},k=1,${shapeOf(m)},P=${m.count}`;
  log(`ntk_mlp784 ${size}`);
  const ref = contractionReference(m, x, n);

  const peers: [string, Prepared][] = [
    ['jax-js-wasm', await preparePeer('jax-js-wasm', async () => ({ call: await jaxNtk(m, x, n), dispose: () => {} }), ref, opts, true)],
    ['tfjs-wasm', await preparePeer('tfjs-wasm', () => tfjsNtk(m, x, n), ref, opts)],
  ];
  const methods = ['structured', 'ntkvp', 'contraction'] as const;
  const ours: [string, NtkMethod, Prepared][] = [];
  for (const name of opts.backends) {
    const backend = await oursBackend(name);
    if (backend === null) continue;
    for (const method of methods) ours.push([name, method, await prepareOurs(m, x, n, method, backend, name, opts, report, ref)]);
  }
  const all = [...peers.map((p) => p[1]), ...ours.map((o) => o[2])];
  const timings = await measureInterleaved(all.flatMap((p) => ('contender' in p ? [p.contender] : [])));
  for (const p of all) {
    if (!('contender' in p)) continue;
    p.dispose();
    const t = timings.get(p.contender.name)!;
    log(`  ${p.contender.name.padEnd(22)} ${t.median.toFixed(1)} ms (median of ${t.samples.length}; rel err ${p.relErr.toExponential(1)})`);
  }
  const peerRows: PeerResult[] = peers.map(([peer, p]) => ('contender' in p ? [peer, timings.get(peer)!.median] : [peer, null, p.skip]));
  const valid = peerRows.filter((p): p is [string, number] => typeof p[1] === 'number');
  for (const [name, method, p] of ours) {
    const ms = 'contender' in p ? timings.get(p.contender.name)!.median : null;
    report.add({ case: `ntk_mlp784_${method}`, size, backend: name }, ms, peerRows);
    if (ms !== null && valid.length > 0) {
      const fastest = valid.reduce((a, b) => (b[1] < a[1] ? b : a));
      log(`  ours ${method} (${name}) vs the faster peer (${fastest[0]}): ${(fastest[1] / ms).toFixed(1)}x`);
    }
  }
}

export const ntkSuite: Suite = {
  name: 'ntk',
  description: 'empirical NTK of ReLU MLPs: structured vs contraction vs ntkvp (3072-2048x3-k), and vs jax-js / tfjs-wasm (784-512x3-1)',
  async run(opts, report) {
    if (selected(opts, 'ntk_mlp784')) await peerCase(opts, report);
    const sizes: [number, number][] = opts.quick ? [[16, 1], [16, 8]] : [[16, 1], [16, 8], [128, 1], [128, 8]];
    if (selected(opts, 'ntk_ffntk')) for (const [n, k] of sizes) await ffntkCase(n, k, opts, report);
  },
};

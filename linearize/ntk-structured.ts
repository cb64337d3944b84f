/**
 * The structured empirical NTK (Novak et al. 2022, "Fast Finite Width Neural Tangent Kernel").
 *
 * The network is traced once per block of inputs, and every parameter is followed through the
 * recorded graph (past reshapes, transposes and multiplications by constant scalars) to its use:
 *  - the right operand of a matmul Y = A B (A: [N, n_in]): its per-sample Jacobian is A_i ⊗ G_ik,
 *    so its contribution is (A1 A2^T)[i, j] · (G1 G2^T)[(i,k), (j,l)], two small Gram matrices;
 *  - the kernel of a conv: per-sample kernel gradients patches_i^T G_ik (im2col by a conv with an
 *    identity kernel), whose Gram matrix is the contribution;
 *  - a bias added with broadcasting over the batch: per-sample Jacobians are the cotangents summed
 *    over the broadcast axes.
 * Any other use falls back to explicit per-sample Jacobians of just those parameters. G, the
 * cotangent of Y for output k at every sample, comes from K reverse walks of the same trace with
 * the cotangent selecting output k; this needs samples to be processed independently (no
 * batch-mixing ops such as batch norm), which holds for every layer in models/.
 */
import * as tg from '../engine/index.ts';
import type { ConvParams, Tensor, TracedGraph } from '../engine/index.ts';
import type { Primitive } from '../engine/primitive.ts';
import { Conv2d, Matmul, elementwise, movement } from '../engine/primitives/index.ts';
import type { ApplyFn } from './linearize.ts';
import { assemble, featureGram, jacobianFeatures, outputSelector, outputWidth, rowBlocks, type NtkOptions } from './ntk-blocks.ts';

type Use =
  | { kind: 'dense'; input: Tensor; output: Tensor; scales: Tensor[] }
  | { kind: 'conv'; input: Tensor; kernelShape: readonly number[]; params: ConvParams; output: Tensor; scales: Tensor[] }
  | { kind: 'bias'; operandShape: readonly number[]; output: Tensor; scales: Tensor[] }
  | { kind: 'fallback' }
  | { kind: 'unused' };

/** What one parameter leaf contributes, in a form whose Gram tiles are cheap. */
type Contribution =
  | { kind: 'gram2'; input: Tensor; cotangent: Tensor; scaleSq: Tensor | null }
  | { kind: 'features'; features: Tensor; scaleSq: Tensor | null }
  | { kind: 'none' };

/** Nodes a parameter passes through unchanged in value (matched by primitive identity, not name). */
const TRANSPARENT: ReadonlySet<Primitive> = new Set<Primitive>([movement.Reshape, movement.Transpose, elementwise.Identity]);

function classify(p: Tensor, consumers: Map<number, { node: Tensor; index: number }[]>, relevant: Set<number>): Use {
  let cur = p;
  const scales: Tensor[] = [];
  for (;;) {
    const uses = consumers.get(cur.id) ?? [];
    if (uses.length === 0) return cur === p ? { kind: 'unused' } : { kind: 'fallback' };
    if (uses.length > 1) return { kind: 'fallback' };
    const { node, index } = uses[0];
    const graphNode = node.node!;
    const primitive = graphNode.primitive;
    const ins = graphNode.inputs;
    if (TRANSPARENT.has(primitive)) {
      cur = node;
      continue;
    }
    if (primitive === elementwise.Mul) {
      const other = ins[1 - index];
      if (other.size === 1 && !relevant.has(other.id)) {
        scales.push(other);
        cur = node;
        continue;
      }
      return { kind: 'fallback' };
    }
    if (primitive === Matmul && index === 1 && ins[0].rank === 2 && node.rank === 2 && !(graphNode.params as { transposeA: boolean }).transposeA) {
      return { kind: 'dense', input: ins[0], output: node, scales };
    }
    if (primitive === Conv2d && index === 1) {
      return { kind: 'conv', input: ins[0], kernelShape: cur.shape, params: graphNode.params as ConvParams, output: node, scales };
    }
    if (primitive === elementwise.Add && broadcastsOverBatch(cur.shape, node.shape)) {
      return { kind: 'bias', operandShape: cur.shape, output: node, scales };
    }
    return { kind: 'fallback' };
  }
}

/** The operand does not vary along the batch axis (axis 0) of the output. */
function broadcastsOverBatch(operand: readonly number[], out: readonly number[]): boolean {
  // A parameter is the same for every sample, so a leading size-1 axis always broadcasts over the batch.
  return operand.length < out.length || (operand.length === out.length && operand[0] === 1);
}

function scaleSquared(scales: Tensor[]): Tensor | null {
  if (scales.length === 0) return null;
  return scales.map((s) => tg.square(tg.reshape(s, []))).reduce((a, b) => tg.mul(a, b));
}

/** An identity kernel [KH, KW, C, KH*KW*C]: convolving with it extracts (im2col) patches. */
function patchKernel(shape: readonly number[], like: Tensor): Tensor {
  const [kh, kw, c] = shape;
  const q = kh * kw * c;
  const data = like.dtype === 'float64' ? new Float64Array(q * q) : new Float32Array(q * q);
  for (let i = 0; i < q; i++) data[i * q + i] = 1;
  return tg.tensor(data, [kh, kw, c, q], like.dtype, like.backend);
}

function contribution(use: Use, cotangent: Tensor | null, n: number, k: number): Contribution {
  if (use.kind === 'unused' || use.kind === 'fallback' || cotangent === null) return { kind: 'none' };
  const scaleSq = scaleSquared(use.scales);
  const rest = use.output.shape.slice(1);
  switch (use.kind) {
    case 'dense':
      return { kind: 'gram2', input: use.input, cotangent, scaleSq };
    case 'conv': {
      const patches = tg.convGeneral(use.input, patchKernel(use.kernelShape, use.input), use.params);
      const [, oh, ow, q] = patches.shape;
      const o = use.output.shape[3];
      const perSample = tg.matmul(tg.reshape(patches, [n, 1, oh * ow, q]), tg.reshape(cotangent, [n, k, oh * ow, o]), { transposeA: true });
      return { kind: 'features', features: tg.reshape(perSample, [n, k, q * o]), scaleSq };
    }
    case 'bias': {
      const aligned = [...new Array(use.output.rank - use.operandShape.length).fill(1), ...use.operandShape];
      const summed = tg.sumToShape(tg.reshape(cotangent, [n * k, ...rest]), [n * k, ...aligned.slice(1)]);
      return { kind: 'features', features: tg.reshape(summed, [n, k, -1]), scaleSq };
    }
  }
}

interface BlockFeatures {
  contributions: Contribution[];
  /** Per-sample Jacobian rows [N, K, D] of the parameters no rule covers, or null. */
  fallback: Tensor | null;
}

/** Traces f on x and classifies how each parameter leaf is used. */
function analyze<P>(f: ApplyFn<P>, params: P, x: Tensor): { graph: TracedGraph; uses: Use[]; n: number; k: number } {
  const n = x.shape[0];
  const graph: TracedGraph = tg.traceGraph((p: P) => f(p, x), [params], [0]);
  if (graph.outLeaves.length !== 1) throw new Error('empiricalNtk: the network must return a single tensor [N, K]');
  const k = outputWidth('empiricalNtk', graph.outLeaves[0], n);
  const nodes = graph.nodes();
  const relevant = new Set(nodes.map((t) => t.id));
  const consumers = new Map<number, { node: Tensor; index: number }[]>();
  for (const t of nodes) {
    t.node?.inputs.forEach((x, index) => {
      if (!relevant.has(x.id)) return;
      const list = consumers.get(x.id) ?? [];
      list.push({ node: t, index });
      consumers.set(x.id, list);
    });
  }
  const uses = graph.inputs.map((p) => (relevant.has(p.id) ? classify(p, consumers, relevant) : ({ kind: 'unused' } as Use)));
  return { graph, uses, n, k };
}

export type ParameterRule = Use['kind'];

/**
 * Which structured rule the NTK uses for each parameter leaf (in tree-flattening order):
 * 'dense', 'conv', 'bias', 'fallback' (explicit per-sample Jacobian) or 'unused'.
 * @example structuredNtkPlan(model.apply, params, x) // ['bias', 'dense', 'bias', 'dense']
 */
export function structuredNtkPlan<P>(f: ApplyFn<P>, params: P, x: Tensor): ParameterRule[] {
  return tg.tidy(() => {
    const { graph, uses } = analyze(f, params, x);
    graph.dispose();
    return uses.map((u) => u.kind);
  });
}

function blockFeatures<P>(f: ApplyFn<P>, params: P, x: Tensor): BlockFeatures {
  const { graph, uses, n, k } = analyze(f, params, x);
  const out = graph.outLeaves[0];
  const outputs = uses.map((u) => ('output' in u ? u.output : null));
  const targets = outputs.filter((t): t is Tensor => t !== null);
  const perOutput: (Tensor | null)[][] = [];
  for (let j = 0; j < k; j++) perOutput.push(graph.cotangents([outputSelector(n, j, k, out)], targets, { inputs: false }).targets);
  const cotangents = targets.map((t, i) => {
    const parts = perOutput.map((row) => row[i]);
    if (parts.some((c) => c === null)) return null;
    return tg.stack(parts as Tensor[], 1);
  });
  let ti = 0;
  const contributions = uses.map((u) => contribution(u, 'output' in u ? cotangents[ti++] : null, n, k));
  graph.dispose(contributions);

  const fallbackIndices = uses.flatMap((u, i) => (u.kind === 'fallback' ? [i] : []));
  let fallback: Tensor | null = null;
  if (fallbackIndices.length > 0) {
    const flat = tg.flatten(params);
    const sub = fallbackIndices.map((i) => flat.leaves[i]);
    const partial = (leaves: Tensor[], input: Tensor) => {
      const all = [...flat.leaves];
      fallbackIndices.forEach((idx, j) => (all[idx] = leaves[j]));
      return f(flat.unflatten(all) as P, input);
    };
    fallback = jacobianFeatures(partial, sub, x);
  }
  return { contributions, fallback };
}

function scaled(t: Tensor, scaleSq: Tensor | null): Tensor {
  return scaleSq === null ? t : tg.mul(t, scaleSq);
}

function tile(a: BlockFeatures, b: BlockFeatures, traced: boolean): Tensor {
  let total: Tensor | null = null;
  const addTerm = (t: Tensor) => (total = total === null ? t : tg.add(total, t));
  a.contributions.forEach((ca, i) => {
    const cb = b.contributions[i];
    if (ca.kind !== cb.kind) throw new Error(`empiricalNtk: parameter ${i} is used differently for different input blocks (${ca.kind} vs ${cb.kind})`);
    if (ca.kind === 'gram2' && cb.kind === 'gram2') {
      const inputs = tg.matmul(ca.input, cb.input, { transposeB: true });
      const grads = featureGram(ca.cotangent, cb.cotangent, traced);
      if (traced) addTerm(scaled(tg.mul(grads, inputs), ca.scaleSq));
      else {
        const [n1, k] = ca.cotangent.shape;
        const n2 = cb.cotangent.shape[0];
        const product = tg.mul(tg.reshape(grads, [n1, k, n2, k]), tg.reshape(inputs, [n1, 1, n2, 1]));
        addTerm(scaled(tg.reshape(product, [n1 * k, n2 * k]), ca.scaleSq));
      }
    } else if (ca.kind === 'features' && cb.kind === 'features') {
      addTerm(scaled(featureGram(ca.features, cb.features, traced), ca.scaleSq));
    }
  });
  if (a.fallback !== null && b.fallback !== null) addTerm(featureGram(a.fallback, b.fallback, traced));
  if (total === null) throw new Error('empiricalNtk: the output does not depend on any parameter');
  return total;
}

export function structuredNtk<P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor, opts: Required<NtkOptions>): Tensor {
  const blocks1 = rowBlocks(x1, opts.blockSize).map((b) => blockFeatures(f, params, b.x));
  const blocks2 = x2 === x1 ? blocks1 : rowBlocks(x2, opts.blockSize).map((b) => blockFeatures(f, params, b.x));
  return assemble(blocks1.map((a) => blocks2.map((b) => tile(a, b, opts.trace))));
}

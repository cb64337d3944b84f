/**
 * Infinite-width kernel rules of every layer in models/ (neural-tangents' stax `kernel_fn`s),
 * on the {@link KernelState} of state.ts. Each rule is a pure function of the input state: it
 * never mutates its input (fanOut hands the same state to several branches).
 *
 * Affine layers (sigma_w = W_std, sigma_b = b_std, b_std = null meaning no bias, b^2 = 0):
 *   NNGP   K'  = sigma_w^2 A(K) + sigma_b^2                       (both parameterizations)
 *   NTK, 'ntk' parameterization:       Theta' = K' + sigma_w^2 A(Theta)
 *   NTK, 'standard' parameterization:  Theta' = fanIn A(K) + sigma_w^2 A(Theta) + [bias ? 1 : 0]
 * where A is the identity for Dense and, for Conv, the mean over the kh x kw filter offsets d of
 * the kernel at the shifted position pair (p + d, q + d) (zero where the shift falls into the
 * padding; shared weights make the same offset act on both sides). fanIn is the FINITE input
 * width (Dense: in_features; Conv: in_channels * kh * kw). The standard-parameterization NTK is
 * the expectation over initializations of the empirical NTK of the finite network as trained
 * here (gradients with respect to W ~ N(0, sigma_w^2 / fanIn) and b ~ N(0, sigma_b^2)):
 * d h / d W contributes sum_i x_i x'_i = fanIn * K, d h / d b contributes 1, and earlier layers
 * reach h through W, contributing sigma_w^2 Theta. It grows with the widths, unlike the NTK
 * parameterization's. This is neural-tangents' rule with its width-scaling factor s = 1 (it
 * divides fanIn by s, the ratio to a reference width, to keep the limit finite).
 *
 * Nonlinearities: K' = T(Sigma), Theta' = Theta * Tdot(Sigma), entrywise over sample and position
 * pairs, Sigma built from the self-covariances at the two positions and the cross entry.
 * Pooling is linear: AvgPool averages over the window on each side independently, GlobalAvgPool
 * over all position pairs, Flatten over the diagonal position pairs (p, p) (its features are
 * (position, channel) pairs, and only equal positions share weights in the next Dense).
 * fanInSum adds kernels (independent zero-mean branches), fanInConcat along channels averages
 * them weighted by channel counts.
 */
import { samePadding } from '../../engine/index.ts';
import type { GaussianMap } from './gaussian.ts';
import {
  entriesPerPair,
  mapArrays,
  requireDense,
  requireImage,
  singleState,
  stateList,
  type KernelContext,
  type KernelRule,
  type KernelState,
} from './state.ts';

/** The hyper-parameters an affine rule reads (DenseHyper / ConvHyper satisfy it). */
export interface AffineHyper {
  readonly W_std: number;
  readonly b_std: number | null;
  readonly parameterization: 'ntk' | 'standard';
}

function scaleShift(a: Float64Array, scale: number, shift: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = scale * a[i] + shift;
  return out;
}

/**
 * The shared affine step. `unscaled` is A above, applied to arrays of `batch` sample pairs; it
 * returns arrays laid out for `spatial` (the output's spatial shape).
 */
function affine(
  k: KernelState,
  ctx: KernelContext,
  hyper: AffineHyper,
  fanIn: number,
  channelsOut: number,
  spatial: readonly number[],
  unscaled: (a: Float64Array, batch: number) => Float64Array,
): KernelState {
  const w2 = hyper.W_std * hyper.W_std;
  const b2 = hyper.b_std === null ? 0 : hyper.b_std * hyper.b_std;
  const cross = k.n1 * k.n2;
  const nngpU = unscaled(k.nngp, cross);
  const nngp = scaleShift(nngpU, w2, b2);
  let ntk: Float64Array | null = null;
  if (k.ntk !== null) {
    const ntkU = unscaled(k.ntk, cross);
    ntk = new Float64Array(ntkU.length);
    if (hyper.parameterization === 'ntk') {
      for (let i = 0; i < ntk.length; i++) ntk[i] = nngp[i] + w2 * ntkU[i];
    } else {
      const bias = hyper.b_std === null ? 0 : 1;
      for (let i = 0; i < ntk.length; i++) ntk[i] = fanIn * nngpU[i] + w2 * ntkU[i] + bias;
    }
  }
  const self = (a: Float64Array, batch: number) => scaleShift(unscaled(a, batch), w2, b2);
  const cov1 = self(k.cov1, k.n1);
  const cov2 = k.cov2 === k.cov1 ? cov1 : self(k.cov2, k.n2);
  return { ...k, spatial, nngp, ntk, cov1, cov2, channels: channelsOut, isGaussian: true, sources: [ctx.nextSource()] };
}

/**
 * Dense: K' = W_std^2 K + b_std^2, NTK per parameterization (module comment).
 * @example denseRule('Dense(512)', { out: 512, W_std: 1, b_std: 0.1, parameterization: 'ntk' })
 */
export function denseRule(name: string, hyper: AffineHyper & { readonly out: number }): KernelRule {
  return (kt, ctx) => {
    const k = singleState(name, kt);
    requireDense(name, k);
    return affine(k, ctx, hyper, k.channels, hyper.out, k.spatial, (a) => a);
  };
}

export interface ConvKernelHyper extends AffineHyper {
  readonly outChannels: number;
  readonly filterShape: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: 'SAME' | 'VALID';
  readonly dilation: readonly [number, number];
}

/**
 * For each output position along one axis and each offset in the window, the input position it
 * reads (-1 where it falls into the zero padding). Output size and SAME padding follow tg.conv2d.
 */
function windowTable(inSize: number, window: number, stride: number, dilation: number, padding: 'SAME' | 'VALID'): { out: number; idx: Int32Array } {
  const eff = (window - 1) * dilation + 1;
  const out = padding === 'SAME' ? Math.ceil(inSize / stride) : Math.floor((inSize - eff) / stride) + 1;
  const lo = padding === 'SAME' ? samePadding(inSize, window, stride, dilation)[0] : 0;
  const idx = new Int32Array(Math.max(out, 0) * window);
  for (let o = 0; o < out; o++) {
    for (let a = 0; a < window; a++) {
      const i = o * stride + a * dilation - lo;
      idx[o * window + a] = i >= 0 && i < inSize ? i : -1;
    }
  }
  return { out, idx };
}

/** 2-D window table: for output position P and offset f = (a, b), the flat input position or -1. */
function window2d(
  spatial: readonly number[],
  window: readonly [number, number],
  strides: readonly [number, number],
  dilation: readonly [number, number],
  padding: 'SAME' | 'VALID',
): { out: [number, number]; idx: Int32Array; size: number } {
  const [H, W] = spatial;
  const th = windowTable(H, window[0], strides[0], dilation[0], padding);
  const tw = windowTable(W, window[1], strides[1], dilation[1], padding);
  const size = window[0] * window[1];
  const so = th.out * tw.out;
  const idx = new Int32Array(so * size);
  for (let oh = 0; oh < th.out; oh++) {
    for (let ow = 0; ow < tw.out; ow++) {
      const P = oh * tw.out + ow;
      for (let a = 0; a < window[0]; a++) {
        for (let b = 0; b < window[1]; b++) {
          const ih = th.idx[oh * window[0] + a];
          const iw = tw.idx[ow * window[1] + b];
          idx[P * size + a * window[1] + b] = ih < 0 || iw < 0 ? -1 : ih * W + iw;
        }
      }
    }
  }
  return { out: [th.out, tw.out], idx, size };
}

/**
 * Conv: the affine rule with A = the mean over filter offsets of the shifted position pairs.
 * @example convRule('Conv', { outChannels: 8, filterShape: [3, 3], strides: [1, 1], padding: 'SAME', dilation: [1, 1], W_std: 1, b_std: null, parameterization: 'ntk' })
 */
export function convRule(name: string, hyper: ConvKernelHyper): KernelRule {
  return (kt, ctx) => {
    const k = singleState(name, kt);
    requireImage(name, k);
    const S = k.spatial[0] * k.spatial[1];
    const t = window2d(k.spatial, hyper.filterShape, hyper.strides, hyper.dilation, hyper.padding);
    if (t.out[0] < 1 || t.out[1] < 1) throw new Error(`${name}: the filter does not fit the ${k.spatial.join('x')} input with ${hyper.padding} padding`);
    const So = t.out[0] * t.out[1];
    const F = t.size;
    const inv = 1 / F;
    const unscaled = (a: Float64Array, batch: number): Float64Array => {
      if (k.layout === 'diagonal') {
        const out = new Float64Array(batch * So);
        for (let bi = 0; bi < batch; bi++) {
          const src = bi * S;
          for (let P = 0; P < So; P++) {
            let acc = 0;
            for (let f = 0; f < F; f++) {
              const ip = t.idx[P * F + f];
              if (ip >= 0) acc += a[src + ip];
            }
            out[bi * So + P] = acc * inv;
          }
        }
        return out;
      }
      const out = new Float64Array(batch * So * So);
      for (let bi = 0; bi < batch; bi++) {
        const src = bi * S * S;
        const dst = bi * So * So;
        for (let P = 0; P < So; P++) {
          for (let Q = 0; Q < So; Q++) {
            let acc = 0;
            for (let f = 0; f < F; f++) {
              const ip = t.idx[P * F + f];
              const iq = t.idx[Q * F + f];
              if (ip >= 0 && iq >= 0) acc += a[src + ip * S + iq];
            }
            out[dst + P * So + Q] = acc * inv;
          }
        }
      }
      return out;
    };
    return affine(k, ctx, hyper, k.channels * F, hyper.outChannels, t.out, unscaled);
  };
}

/**
 * Elementwise nonlinearity phi with T and Tdot from `map`: K' = T(Sigma), Theta' = Theta Tdot(Sigma).
 * Needs a Gaussian input (an affine layer, possibly followed by linear ones, before it).
 * @example elementwiseRule('Relu', reluMap())
 */
export function elementwiseRule(name: string, map: GaussianMap): KernelRule {
  return (kt, ctx) => {
    const k = singleState(name, kt);
    if (!k.isGaussian) {
      throw new Error(
        `${name}: its input is not a Gaussian process at infinite width (network input, or the output of a nonlinearity, Flatten or fanInConcat); ` +
          'put a Dense or Conv layer before the nonlinearity',
      );
    }
    const P = entriesPerPair(k.layout, k.spatial);
    const S = k.layout === 'full' ? k.spatial[0] * k.spatial[1] : 0;
    // Variance of sample i at the position of entry e, on the x1 side (p) or the x2 side (q).
    const varP = (cov: Float64Array, i: number, e: number) => (k.layout === 'full' ? cov[i * P + Math.floor(e / S) * (S + 1)] : cov[i * P + e]);
    const varQ = (cov: Float64Array, i: number, e: number) => (k.layout === 'full' ? cov[i * P + (e % S) * (S + 1)] : cov[i * P + e]);

    const cross = k.n1 * k.n2 * P;
    // Entries to evaluate: all of them, or for a symmetric block one of each mirror pair
    // (i, j, (p, q)) ~ (j, i, (q, p)): half the quadrature work, and exactly symmetric output.
    const mirror = (e: number) => (k.layout === 'full' ? (e % S) * S + Math.floor(e / S) : e);
    const picked: number[] = [];
    for (let i = 0; i < k.n1; i++) {
      for (let j = k.symmetric ? i : 0; j < k.n2; j++) {
        const base = (i * k.n2 + j) * P;
        for (let e = 0; e < P; e++) if (!(k.symmetric && i === j && mirror(e) < e)) picked.push(base + e);
      }
    }
    const s11 = new Float64Array(picked.length);
    const s12 = new Float64Array(picked.length);
    const s22 = new Float64Array(picked.length);
    picked.forEach((flat, r) => {
      const e = flat % P;
      const pair = (flat - e) / P;
      const i = Math.floor(pair / k.n2);
      const j = pair % k.n2;
      s11[r] = varP(k.cov1, i, e);
      s12[r] = k.nngp[flat];
      s22[r] = varQ(k.cov2, j, e);
    });
    const res = map.expectations(s11, s12, s22, k.ntk !== null);
    const nngp = new Float64Array(cross);
    const tdot = k.ntk !== null ? new Float64Array(cross) : null;
    picked.forEach((flat, r) => {
      nngp[flat] = res.t[r];
      if (tdot) tdot[flat] = res.tdot![r];
      if (k.symmetric) {
        const e = flat % P;
        const pair = (flat - e) / P;
        const i = Math.floor(pair / k.n2);
        const j = pair % k.n2;
        const other = (j * k.n2 + i) * P + mirror(e);
        nngp[other] = res.t[r];
        if (tdot) tdot[other] = res.tdot![r];
      }
    });
    let ntk: Float64Array | null = null;
    if (k.ntk !== null) {
      ntk = new Float64Array(cross);
      for (let i = 0; i < cross; i++) ntk[i] = k.ntk[i] * tdot![i];
    }
    const selfMap = (cov: Float64Array, n: number): Float64Array => {
      const a = new Float64Array(n * P);
      const b = new Float64Array(n * P);
      for (let i = 0; i < n; i++) {
        for (let e = 0; e < P; e++) {
          a[i * P + e] = varP(cov, i, e);
          b[i * P + e] = varQ(cov, i, e);
        }
      }
      return map.expectations(a, cov, b, false).t;
    };
    const cov1 = selfMap(k.cov1, k.n1);
    const cov2 = k.cov2 === k.cov1 ? cov1 : selfMap(k.cov2, k.n2);
    return { ...k, nngp, ntk, cov1, cov2, isGaussian: false };
  };
}

/** Identity: the kernel passes through unchanged. @example identityRule() */
export function identityRule(): KernelRule {
  return (k) => k;
}

/**
 * AvgPool (zero padding counted, as the layer): each side averaged over its window independently.
 * Needs the full position-pair kernel.
 * @example avgPoolRule('AvgPool([2,2])', { window: [2, 2], strides: [2, 2], padding: 'VALID' })
 */
export function avgPoolRule(
  name: string,
  hyper: { readonly window: readonly [number, number]; readonly strides: readonly [number, number]; readonly padding: 'SAME' | 'VALID' },
): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    requireImage(name, k);
    if (k.layout !== 'full') throw new Error(`${name}: needs the full position-pair kernel; compute it with { spatial: 'full' } (or 'auto')`);
    const S = k.spatial[0] * k.spatial[1];
    const t = window2d(k.spatial, hyper.window, hyper.strides, [1, 1], hyper.padding);
    if (t.out[0] < 1 || t.out[1] < 1) throw new Error(`${name}: the window does not fit the ${k.spatial.join('x')} input`);
    const So = t.out[0] * t.out[1];
    const G = t.size;
    const inv = 1 / G;
    const pool = (a: Float64Array, batch: number): Float64Array => {
      // Separable: pool the x1-side position, then the x2-side one.
      const tmp = new Float64Array(So * S);
      const out = new Float64Array(batch * So * So);
      for (let bi = 0; bi < batch; bi++) {
        const src = bi * S * S;
        tmp.fill(0);
        for (let P = 0; P < So; P++) {
          for (let g = 0; g < G; g++) {
            const ip = t.idx[P * G + g];
            if (ip < 0) continue;
            for (let q = 0; q < S; q++) tmp[P * S + q] += a[src + ip * S + q];
          }
        }
        const dst = bi * So * So;
        for (let P = 0; P < So; P++) {
          for (let Q = 0; Q < So; Q++) {
            let acc = 0;
            for (let g = 0; g < G; g++) {
              const iq = t.idx[Q * G + g];
              if (iq >= 0) acc += tmp[P * S + iq];
            }
            out[dst + P * So + Q] = acc * inv * inv;
          }
        }
      }
      return out;
    };
    return { ...k, ...mapArrays(k, pool), spatial: t.out };
  };
}

/**
 * GlobalAvgPool: the mean of the kernel over all position pairs; the output is dense.
 * @example globalAvgPoolRule('GlobalAvgPool')
 */
export function globalAvgPoolRule(name: string): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    requireImage(name, k);
    if (k.layout !== 'full') throw new Error(`${name}: needs the full position-pair kernel; compute it with { spatial: 'full' } (or 'auto')`);
    const P = entriesPerPair(k.layout, k.spatial);
    const mean = (a: Float64Array, batch: number): Float64Array => {
      const out = new Float64Array(batch);
      for (let bi = 0; bi < batch; bi++) {
        let acc = 0;
        for (let e = 0; e < P; e++) acc += a[bi * P + e];
        out[bi] = acc / P;
      }
      return out;
    };
    return { ...k, ...mapArrays(k, mean), layout: 'none', spatial: [] };
  };
}

/**
 * Flatten: images -> dense features (position, channel); the kernel of the next Dense sees the
 * average of the diagonal position pairs. Marks the result non-Gaussian (as stax): features at
 * different positions have different variances, so a nonlinearity right after Flatten would need
 * them separately. A no-op on dense inputs.
 * @example flattenRule('Flatten')
 */
export function flattenRule(name: string): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    if (k.layout === 'none') return k;
    const S = k.spatial[0] * k.spatial[1];
    const P = entriesPerPair(k.layout, k.spatial);
    const diagMean = (a: Float64Array, batch: number): Float64Array => {
      const out = new Float64Array(batch);
      for (let bi = 0; bi < batch; bi++) {
        let acc = 0;
        for (let p = 0; p < S; p++) acc += a[bi * P + (k.layout === 'full' ? p * (S + 1) : p)];
        out[bi] = acc / S;
      }
      return out;
    };
    return { ...k, ...mapArrays(k, diagMean), layout: 'none', spatial: [], channels: k.channels * S, isGaussian: false };
  };
}

/** fanOut(n): n references to the same (immutable) kernel. @example fanOutRule(2) */
export function fanOutRule(n: number): KernelRule {
  return (k) => Array.from({ length: n }, () => k);
}

function sameLayout(name: string, ks: readonly KernelState[]): void {
  const a = ks[0];
  ks.forEach((b, i) => {
    if (b.layout !== a.layout || b.spatial.join() !== a.spatial.join() || b.n1 !== a.n1 || b.n2 !== a.n2 || (b.ntk === null) !== (a.ntk === null)) {
      throw new Error(`${name}: input ${i} has kernel layout ${b.layout} [${b.spatial.join('x')}], input 0 has ${a.layout} [${a.spatial.join('x')}]`);
    }
  });
}

function sumArrays(arrays: readonly Float64Array[]): Float64Array {
  const out = Float64Array.from(arrays[0]);
  for (let j = 1; j < arrays.length; j++) {
    const a = arrays[j];
    for (let i = 0; i < out.length; i++) out[i] += a[i];
  }
  return out;
}

/**
 * fanInSum: the kernels of independent branches add. Refuses branches that share their last
 * random affine map (e.g. two Identity branches, or Identity next to a branch without any Dense
 * / Conv), where the cross-covariance does not vanish, and sums of two or more non-Gaussian
 * branches (whose means need not be zero).
 * @example fanInSumRule('fanInSum')
 */
export function fanInSumRule(name: string): KernelRule {
  return (kt) => {
    const ks = stateList(name, kt).map((k, i) => singleState(`${name} (input ${i})`, k));
    if (ks.length === 1) return ks[0];
    sameLayout(name, ks);
    for (let i = 0; i < ks.length; i++) {
      for (let j = i + 1; j < ks.length; j++) {
        if (ks[i].sources.some((s) => ks[j].sources.includes(s))) {
          throw new Error(
            `${name}: branches ${i} and ${j} are not independent (neither has a Dense / Conv of its own since the fan-out), ` +
              'so their kernels do not add; give at least one of them a Dense or Conv layer',
          );
        }
      }
    }
    if (ks.filter((k) => !k.isGaussian).length > 1) {
      throw new Error(`${name}: more than one input is non-Gaussian (ends in a nonlinearity); only one branch may, the others must end in a Dense / Conv (or Identity of one)`);
    }
    const shared = ks.every((k) => k.cov2 === k.cov1);
    const cov1 = sumArrays(ks.map((k) => k.cov1));
    return {
      ...ks[0],
      symmetric: ks.every((k) => k.symmetric),
      nngp: sumArrays(ks.map((k) => k.nngp)),
      ntk: ks[0].ntk === null ? null : sumArrays(ks.map((k) => k.ntk!)),
      cov1,
      cov2: shared ? cov1 : sumArrays(ks.map((k) => k.cov2)),
      isGaussian: ks.every((k) => k.isGaussian),
      sources: [...new Set(ks.flatMap((k) => k.sources))],
    };
  };
}

/**
 * fanInConcat along the channel axis: the channel-weighted average of the kernels (as stax);
 * the result is a mixture, not one Gaussian, so a nonlinearity may not follow directly.
 * Concatenation along spatial axes has no rule here.
 * @example fanInConcatRule('fanInConcat(-1)', -1)
 */
export function fanInConcatRule(name: string, axis: number): KernelRule {
  return (kt) => {
    const ks = stateList(name, kt).map((k, i) => singleState(`${name} (input ${i})`, k));
    sameLayout(name, ks);
    const rank = ks[0].layout === 'none' ? 2 : 4;
    const a = axis < 0 ? axis + rank : axis;
    if (a !== rank - 1) throw new Error(`${name}: only concatenation along the channel axis (-1) has an infinite-width kernel rule, got axis ${axis} of rank-${rank} activations`);
    if (ks.length === 1) return ks[0];
    const total = ks.reduce((s, k) => s + k.channels, 0);
    const avg = (arrays: readonly Float64Array[]) => {
      const out = new Float64Array(arrays[0].length);
      arrays.forEach((arr, j) => {
        const wgt = ks[j].channels / total;
        for (let i = 0; i < out.length; i++) out[i] += wgt * arr[i];
      });
      return out;
    };
    const shared = ks.every((k) => k.cov2 === k.cov1);
    const cov1 = avg(ks.map((k) => k.cov1));
    return {
      ...ks[0],
      symmetric: ks.every((k) => k.symmetric),
      nngp: avg(ks.map((k) => k.nngp)),
      ntk: ks[0].ntk === null ? null : avg(ks.map((k) => k.ntk!)),
      cov1,
      cov2: shared ? cov1 : avg(ks.map((k) => k.cov2)),
      channels: total,
      isGaussian: false,
      sources: [...new Set(ks.flatMap((k) => k.sources))],
    };
  };
}

/** A child of a combinator, as the combinator rules see it. */
interface RuleCarrier {
  readonly name: string;
  readonly kernelRule?: KernelRule;
}

/** The layer's rule, or the error every kernel evaluation gives for a layer without one. */
export function ruleOf(layer: RuleCarrier): KernelRule {
  if (typeof layer.kernelRule !== 'function') {
    throw new Error(`layer '${layer.name}' has no infinite-width kernel rule`);
  }
  return layer.kernelRule;
}

/**
 * serial: the children's rules in order; errors name the position of the failing child.
 * @example serialRule([Dense(8), Relu()])
 */
export function serialRule(layers: readonly RuleCarrier[]): KernelRule {
  return (k, ctx) => {
    let h = k;
    layers.forEach((layer, i) => {
      try {
        h = ruleOf(layer)(h, ctx);
      } catch (e) {
        throw new Error(`serial: layer ${i} (${layer.name}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    });
    return h;
  };
}

/**
 * parallel: child i maps the kernel of input i.
 * @example parallelRule([Dense(8), Identity()])
 */
export function parallelRule(layers: readonly RuleCarrier[]): KernelRule {
  return (k, ctx) => {
    const ks = stateList('parallel', k, layers.length);
    return ks.map((ki, i) => {
      try {
        return ruleOf(layers[i])(ki, ctx);
      } catch (e) {
        throw new Error(`parallel: branch ${i} (${layers[i].name}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    });
  };
}

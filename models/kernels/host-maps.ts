/**
 * The nonlinearities' Gaussian expectations on host float64 arrays: the tensor maps of
 * closed-forms.ts and quadrature.ts evaluated on CPU tensors. For callers (and tests) that hold
 * plain arrays of covariances rather than kernel tensors.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { erfKernelMap, reluKernelMap, type KernelMap } from './closed-forms.ts';
import type { QuadratureRule } from './gaussian.ts';
import { functionKernelMap, tanhKernelMap } from './quadrature.ts';

/** T and Tdot of one nonlinearity on host arrays (the tensor maps of closed-forms.ts / quadrature.ts, evaluated on the CPU). */
export interface GaussianMap {
  /** Name used in errors and reports, e.g. 'Relu' or 'Elementwise(softplus)'. */
  readonly name: string;
  /** How T is computed, for reports: a closed form or which quadrature rule. */
  readonly method: string;
  /**
   * For entries e: T(Sigma_e) and, when `wantDot`, Tdot(Sigma_e), with Sigma_e = [[s11[e], s12[e]], [s12[e], s22[e]]].
   * Variances must be >= 0; |s12| is clipped to sqrt(s11 s22) (round-off).
   */
  expectations(s11: Float64Array, s12: Float64Array, s22: Float64Array, wantDot: boolean): { t: Float64Array; tdot: Float64Array | null };
}

/** A tensor KernelMap evaluated on host arrays (float64 CPU tensors in, arrays out). */
function onHost(map: KernelMap): GaussianMap {
  return {
    name: map.name,
    method: map.method,
    expectations(s11, s12, s22, wantDot) {
      const cpu = tg.backendInstance('cpu');
      if (!cpu) throw new Error(`${map.name}: host expectations need the CPU backend`);
      return tg.tidy(() => {
        const t = (a: Float64Array) => tg.tensor(Float64Array.from(a), [a.length], 'float64', cpu);
        const r = map.expectations(t(s11), t(s12), t(s22), wantDot);
        return { t: Float64Array.from(r.t.dataSync()), tdot: r.tdot === null ? null : Float64Array.from(r.tdot.dataSync()) };
      });
    },
  };
}

/**
 * ReLU in closed form on host arrays: closed-forms.ts's reluKernelMap (the arc-cosine kernel).
 * @example reluMap().expectations(Float64Array.of(1), Float64Array.of(1), Float64Array.of(1), true) // t = [0.5], tdot = [0.5]
 */
export function reluMap(): GaussianMap {
  return onHost(reluKernelMap());
}

/**
 * phi(x) = a erf(b x) + c in closed form on host arrays: closed-forms.ts's erfKernelMap.
 * @example erfMap(1, 1, 0).expectations(Float64Array.of(1), Float64Array.of(0), Float64Array.of(1), false).t // [0]
 */
export function erfMap(a = 1, b = 1, c = 0): GaussianMap {
  return onHost(erfKernelMap(a, b, c));
}

/**
 * Tanh by quadrature on host arrays: quadrature.ts's tanhKernelMap (phi' = 1 - tanh^2).
 * @example tanhMap().expectations(Float64Array.of(1), Float64Array.of(0.5), Float64Array.of(1), true)
 */
export function tanhMap(rule: QuadratureRule = 'auto'): GaussianMap {
  return onHost(tanhKernelMap(rule));
}

/**
 * Quadrature for an engine function fn (Tensor -> Tensor, elementwise) on host arrays:
 * quadrature.ts's functionKernelMap (phi' by the engine's reverse mode).
 * @example const softplus = tensorFunctionMap('softplus', (x) => tg.log1p(tg.exp(x)));
 */
export function tensorFunctionMap(name: string, fn: (x: Tensor) => Tensor, rule: QuadratureRule = 'auto'): GaussianMap {
  return onHost(functionKernelMap(name, fn, rule));
}

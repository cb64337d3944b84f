/**
 * Adaptive Dormand–Prince 5(4) integrator (the DOPRI5 method of Hairer, Nørsett & Wanner):
 * 7 stages with FSAL, local extrapolation (the 5th-order solution is propagated), mixed
 * absolute/relative RMS error control, a PI step-size controller with safety factor, and
 * either exact landing on every output time or the 4th-order continuous extension.
 */

/** Right-hand side: write y'(t) into `dydt` (do not keep references to `y` or `dydt`). */
export type OdeRhs = (t: number, y: Float64Array, dydt: Float64Array) => void;

/** Options of {@link dopri5}. */
export interface DopriOptions {
  /** Relative tolerance (default 1e-8). */
  readonly rtol?: number;
  /** Absolute tolerance (default 1e-10). */
  readonly atol?: number;
  /** First trial step; estimated from the problem when omitted. */
  readonly initialStep?: number;
  /** Largest allowed step (default Infinity). */
  readonly maxStep?: number;
  /** Maximum number of attempted steps before throwing (default 100000). */
  readonly maxSteps?: number;
  /** Safety factor of the step-size controller (default 0.9). */
  readonly safety?: number;
  /** Smallest step-size change factor (default 0.2). */
  readonly minFactor?: number;
  /** Largest step-size change factor (default 10). */
  readonly maxFactor?: number;
  /**
   * `'exact'` (default) shortens steps to land on every output time, so outputs carry only the
   * controlled local errors; `'dense'` steps freely and evaluates the 4th-order continuous
   * extension (cheaper with many output times).
   */
  readonly output?: 'exact' | 'dense';
}

/** Counters of one integration. */
export interface OdeStats {
  readonly acceptedSteps: number;
  readonly rejectedSteps: number;
  readonly rhsEvaluations: number;
}

/** Result of {@link dopri5}: `states[i]` is y(`times[i]`). */
export interface OdeSolution {
  readonly times: number[];
  readonly states: Float64Array[];
  readonly stats: OdeStats;
}

// Butcher tableau of Dormand–Prince 5(4).
const C2 = 1 / 5, C3 = 3 / 10, C4 = 4 / 5, C5 = 8 / 9;
const A21 = 1 / 5;
const A31 = 3 / 40, A32 = 9 / 40;
const A41 = 44 / 45, A42 = -56 / 15, A43 = 32 / 9;
const A51 = 19372 / 6561, A52 = -25360 / 2187, A53 = 64448 / 6561, A54 = -212 / 729;
const A61 = 9017 / 3168, A62 = -355 / 33, A63 = 46732 / 5247, A64 = 49 / 176, A65 = -5103 / 18656;
const A71 = 35 / 384, A73 = 500 / 1113, A74 = 125 / 192, A75 = -2187 / 6784, A76 = 11 / 84;
// Difference between the 5th- and 4th-order weights (the embedded error estimate).
const E1 = 71 / 57600, E3 = -71 / 16695, E4 = 71 / 1920, E5 = -17253 / 339200, E6 = 22 / 525, E7 = -1 / 40;
// Continuous extension (Hairer's CONTD5 coefficients).
const D1 = -12715105075 / 11282082432, D3 = 87487479700 / 32700410799, D4 = -10690763975 / 1880347072,
  D5 = 701980252875 / 199316789632, D6 = -1453857185 / 822651844, D7 = 69997945 / 29380423;
// PI controller exponents (Hairer's defaults: beta = 0.04, alpha = 1/5 - 0.75 beta).
const PI_BETA = 0.04;
const PI_ALPHA = 0.2 - 0.75 * PI_BETA;

/**
 * Integrates y' = rhs(t, y) from `t0` with y(t0) = `y0` and returns y at each of `outputTimes`
 * (non-decreasing, all >= t0, finite). Throws when `maxSteps` is exceeded, when the step size
 * underflows, or when the right-hand side is not finite at the initial state.
 *
 * @example
 * // y' = -y, y(0) = 1
 * const sol = dopri5((t, y, dy) => { dy[0] = -y[0]; }, 0, new Float64Array([1]), [1, 2]);
 * sol.states[0][0]; // ~ Math.exp(-1)
 */
export function dopri5(
  rhs: OdeRhs,
  t0: number,
  y0: Float64Array,
  outputTimes: readonly number[],
  options: DopriOptions = {},
): OdeSolution {
  const fn = 'dopri5';
  const rtol = options.rtol ?? 1e-8;
  const atol = options.atol ?? 1e-10;
  const maxStep = options.maxStep ?? Infinity;
  const maxSteps = options.maxSteps ?? 100000;
  const safety = options.safety ?? 0.9;
  const minFactor = options.minFactor ?? 0.2;
  const maxFactor = options.maxFactor ?? 10;
  const mode = options.output ?? 'exact';
  if (!(rtol >= 0) || !(atol >= 0) || rtol + atol === 0) {
    throw new Error(`${fn}: tolerances must be >= 0 and not both 0, got rtol=${rtol}, atol=${atol}`);
  }
  if (!(maxStep > 0)) throw new Error(`${fn}: maxStep must be > 0, got ${maxStep}`);
  if (!(Number.isInteger(maxSteps) && maxSteps > 0)) throw new Error(`${fn}: maxSteps must be a positive integer, got ${maxSteps}`);
  if (!(safety > 0 && safety <= 1)) throw new Error(`${fn}: safety must be in (0, 1], got ${safety}`);
  if (!(minFactor > 0 && minFactor < 1 && maxFactor > 1)) {
    throw new Error(`${fn}: need 0 < minFactor < 1 < maxFactor, got ${minFactor}, ${maxFactor}`);
  }
  if (mode !== 'exact' && mode !== 'dense') throw new Error(`${fn}: output must be 'exact' or 'dense', got '${String(mode)}'`);
  if (!Number.isFinite(t0)) throw new Error(`${fn}: t0 must be finite, got ${t0}`);
  for (let i = 0; i < y0.length; i++) {
    if (!Number.isFinite(y0[i])) throw new Error(`${fn}: y0[${i}] is not finite (${y0[i]})`);
  }
  let prev = t0;
  for (const t of outputTimes) {
    if (!Number.isFinite(t) || t < prev) {
      throw new Error(`${fn}: output times must be finite, non-decreasing and >= t0=${t0}; got ${t} after ${prev}`);
    }
    prev = t;
  }

  const n = y0.length;
  const tEnd = outputTimes.length > 0 ? outputTimes[outputTimes.length - 1] : t0;
  const times: number[] = [];
  const states: Float64Array[] = [];
  let accepted = 0;
  let rejected = 0;
  let evals = 0;

  const f = (t: number, y: Float64Array, out: Float64Array): void => {
    rhs(t, y, out);
    evals++;
  };

  const y = Float64Array.from(y0);
  let t = t0;
  let outIdx = 0;
  while (outIdx < outputTimes.length && outputTimes[outIdx] === t0) {
    times.push(t0);
    states.push(Float64Array.from(y0));
    outIdx++;
  }
  if (outIdx === outputTimes.length) {
    return { times, states, stats: { acceptedSteps: 0, rejectedSteps: 0, rhsEvaluations: 0 } };
  }

  const k1 = new Float64Array(n), k2 = new Float64Array(n), k3 = new Float64Array(n), k4 = new Float64Array(n);
  const k5 = new Float64Array(n), k6 = new Float64Array(n), k7 = new Float64Array(n);
  const ys = new Float64Array(n);
  const yNew = new Float64Array(n);
  f(t, y, k1);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(k1[i])) throw new Error(`${fn}: right-hand side is not finite at t0=${t0} (component ${i}: ${k1[i]})`);
  }

  const scaleAt = (a: number, b: number): number => atol + rtol * Math.max(Math.abs(a), Math.abs(b));

  let h = options.initialStep ?? initialStep();
  if (!(h > 0)) throw new Error(`${fn}: initialStep must be > 0, got ${h}`);
  h = Math.min(h, maxStep, tEnd - t);
  let errOld = 1e-4;
  let justRejected = false;
  let attempts = 0;

  while (outIdx < outputTimes.length) {
    const target = mode === 'exact' ? outputTimes[outIdx] : tEnd;
    if (target - t <= 16 * Number.EPSILON * Math.abs(t)) {
      // Output times closer than round-off to the current time: the state there is y itself.
      t = target;
      while (outIdx < outputTimes.length && outputTimes[outIdx] <= t) {
        times.push(t);
        states.push(Float64Array.from(y));
        outIdx++;
      }
      continue;
    }
    // Land exactly on the target; the 1.01 avoids leaving a sliver of a step behind.
    let hStep = Math.min(h, maxStep);
    let lands = false;
    if (t + 1.01 * hStep >= target) {
      hStep = target - t;
      lands = true;
    }
    if (++attempts > maxSteps) {
      throw new Error(
        `${fn}: exceeded maxSteps=${maxSteps} at t=${t} (step ${hStep.toExponential(3)}, target ${target}); ` +
          `the problem may be stiff or the tolerances too tight`,
      );
    }
    if (hStep <= 16 * Number.EPSILON * Math.max(Math.abs(t), Number.MIN_VALUE) || hStep <= 0) {
      throw new Error(`${fn}: step size underflow (${hStep}) at t=${t}; the solution may blow up or the RHS may be non-finite`);
    }

    for (let i = 0; i < n; i++) ys[i] = y[i] + hStep * A21 * k1[i];
    f(t + C2 * hStep, ys, k2);
    for (let i = 0; i < n; i++) ys[i] = y[i] + hStep * (A31 * k1[i] + A32 * k2[i]);
    f(t + C3 * hStep, ys, k3);
    for (let i = 0; i < n; i++) ys[i] = y[i] + hStep * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i]);
    f(t + C4 * hStep, ys, k4);
    for (let i = 0; i < n; i++) ys[i] = y[i] + hStep * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]);
    f(t + C5 * hStep, ys, k5);
    for (let i = 0; i < n; i++) {
      ys[i] = y[i] + hStep * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i]);
    }
    const tNew = lands ? target : t + hStep;
    f(tNew, ys, k6);
    for (let i = 0; i < n; i++) {
      yNew[i] = y[i] + hStep * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i] + A76 * k6[i]);
    }
    f(tNew, yNew, k7);

    let errSq = 0;
    for (let i = 0; i < n; i++) {
      const e = hStep * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i]);
      const r = e / scaleAt(y[i], yNew[i]);
      errSq += r * r;
    }
    let err = n > 0 ? Math.sqrt(errSq / n) : 0;
    if (!Number.isFinite(err)) err = Infinity;

    if (err <= 1) {
      accepted++;
      if (mode === 'dense') emitDense(t, hStep, tNew);
      t = tNew;
      y.set(yNew);
      k1.set(k7); // FSAL: the last stage is the first derivative of the next step
      let fac = err === 0 ? maxFactor : safety * Math.pow(err, -PI_ALPHA) * Math.pow(errOld, PI_BETA);
      fac = Math.min(justRejected ? 1 : maxFactor, Math.max(minFactor, fac));
      const proposed = hStep * fac;
      // A step shortened to hit an output time says little about the natural step size.
      h = lands ? Math.max(proposed, h) : proposed;
      errOld = Math.max(err, 1e-4);
      justRejected = false;
      if (mode === 'exact' && lands) {
        while (outIdx < outputTimes.length && outputTimes[outIdx] === t) {
          times.push(t);
          states.push(Float64Array.from(y));
          outIdx++;
        }
      }
    } else {
      rejected++;
      const fac = Number.isFinite(err) ? Math.max(minFactor, safety * Math.pow(err, -1 / 5)) : minFactor;
      h = hStep * Math.min(1, fac);
      justRejected = true;
    }
  }
  return { times, states, stats: { acceptedSteps: accepted, rejectedSteps: rejected, rhsEvaluations: evals } };

  // Emits all output times in (tOld, tNew] from the continuous extension of the accepted step.
  function emitDense(tOld: number, hStep: number, tNew: number): void {
    let r5: Float64Array | undefined;
    while (outIdx < outputTimes.length && outputTimes[outIdx] <= tNew) {
      const tq = outputTimes[outIdx];
      const out = new Float64Array(n);
      if (tq === tNew) {
        out.set(yNew);
      } else {
        if (r5 === undefined) {
          r5 = new Float64Array(n);
          for (let i = 0; i < n; i++) {
            r5[i] = hStep * (D1 * k1[i] + D3 * k3[i] + D4 * k4[i] + D5 * k5[i] + D6 * k6[i] + D7 * k7[i]);
          }
        }
        const th = (tq - tOld) / hStep;
        const th1 = 1 - th;
        for (let i = 0; i < n; i++) {
          const ydiff = yNew[i] - y[i];
          const bspl = hStep * k1[i] - ydiff;
          const r4 = ydiff - hStep * k7[i] - bspl;
          out[i] = y[i] + th * (ydiff + th1 * (bspl + th * (r4 + th1 * r5[i])));
        }
      }
      times.push(tq);
      states.push(out);
      outIdx++;
    }
  }

  // Hairer's starting-step heuristic (HINIT) for an order-5 method.
  function initialStep(): number {
    let dnf = 0;
    let dny = 0;
    for (let i = 0; i < n; i++) {
      const sk = scaleAt(y[i], y[i]);
      dnf += (k1[i] / sk) ** 2;
      dny += (y[i] / sk) ** 2;
    }
    dnf = n > 0 ? dnf / n : 0;
    dny = n > 0 ? dny / n : 0;
    let h0 = dnf <= 1e-10 || dny <= 1e-10 ? 1e-6 : Math.sqrt(dny / dnf) * 0.01;
    h0 = Math.min(h0, maxStep, tEnd - t);
    for (let i = 0; i < n; i++) ys[i] = y[i] + h0 * k1[i];
    f(t + h0, ys, k2);
    let der2 = 0;
    for (let i = 0; i < n; i++) {
      const sk = scaleAt(y[i], y[i]);
      der2 += ((k2[i] - k1[i]) / sk) ** 2;
    }
    der2 = (n > 0 ? Math.sqrt(der2 / n) : 0) / h0;
    const der12 = Math.max(Math.abs(der2), Math.sqrt(dnf));
    const h1 = der12 <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : Math.pow(0.01 / der12, 1 / 5);
    const hInit = Math.min(100 * h0, h1, maxStep);
    return Number.isFinite(hInit) && hInit > 0 ? hInit : 1e-6;
  }
}

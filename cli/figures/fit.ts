/**
 * Power-law fits for the figure suite: a quantity q(n) ~ C n^s is a line in log-log
 * coordinates, fitted by ordinary least squares on (ln n, ln q). Over several seeds the slope is
 * fitted per seed and summarized by the mean with a Student-t 95% interval over the seeds (each
 * seed is an independent replicate of the whole sweep, so the interval covers init and data
 * noise); with one seed the interval is the OLS one from the residual scatter about the line.
 */

/** One least-squares line through (ln x, ln y). */
export interface PowerLawFit {
  slope: number;
  /** ln C. */
  intercept: number;
  /** Standard error of the slope from the residuals (NaN with two points: no residual degrees of freedom). */
  slopeStdErr: number;
  points: number;
}

/** A slope summarized over seeds. */
export interface SlopeEstimate {
  /** Mean of the per-seed slopes (with one seed: that seed's slope). */
  slope: number;
  /** 95% interval: Student t over seeds (>= 2 seeds), else the OLS interval; null when none can be given. */
  interval: [number, number] | null;
  /** How the interval was obtained. */
  method: 'seeds' | 'ols' | 'none';
  perSeed: number[];
  /** The x values the fit used. */
  xs: number[];
}

// Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30 (standard tables).
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/**
 * t_{0.975, df}: the table up to 30 degrees of freedom, the Cornish-Fisher expansion beyond
 * (error below 1e-4 there).
 * @example studentT975(4) // 2.776
 */
export function studentT975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`studentT975: degrees of freedom must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1];
  const z = 1.959963984540054;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3);
}

/**
 * Least squares of ln y on ln x.
 * @example fitPowerLaw([1, 2, 4], [1, 0.5, 0.25]).slope // -1
 */
export function fitPowerLaw(xs: readonly number[], ys: readonly number[]): PowerLawFit {
  if (xs.length !== ys.length) throw new Error(`fitPowerLaw: ${xs.length} x values but ${ys.length} y values`);
  if (xs.length < 2) throw new Error(`fitPowerLaw: needs at least 2 points, got ${xs.length}`);
  xs.forEach((x, i) => {
    if (!(x > 0 && Number.isFinite(x)) || !(ys[i] > 0 && Number.isFinite(ys[i]))) {
      throw new Error(`fitPowerLaw: point ${i} (x = ${x}, y = ${ys[i]}) is not positive and finite; a power law needs both`);
    }
  });
  const n = xs.length;
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / n;
  const my = ly.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (lx[i] - mx) ** 2;
    sxy += (lx[i] - mx) * (ly[i] - my);
  }
  if (!(sxx > 0)) throw new Error(`fitPowerLaw: all x values are equal (${xs[0]}); a slope needs two distinct x`);
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (ly[i] - intercept - slope * lx[i]) ** 2;
  const slopeStdErr = n > 2 ? Math.sqrt(rss / (n - 2) / sxx) : NaN;
  return { slope, intercept, slopeStdErr, points: n };
}

/**
 * The slope of y ~ x^s over seeds: `ys[seed][i]` belongs to `xs[i]`.
 * @example slopeOverSeeds([64, 128, 256], [[1, 0.5, 0.25], [2, 1, 0.5]]) // slope -1, interval [-1, -1]
 */
export function slopeOverSeeds(xs: readonly number[], ys: readonly (readonly number[])[]): SlopeEstimate {
  if (ys.length === 0) throw new Error('slopeOverSeeds: no seeds');
  const fits = ys.map((row, s) => {
    if (row.length !== xs.length) throw new Error(`slopeOverSeeds: seed ${s} has ${row.length} values for ${xs.length} x values`);
    return fitPowerLaw(xs, row);
  });
  const perSeed = fits.map((f) => f.slope);
  const S = perSeed.length;
  const slope = perSeed.reduce((a, b) => a + b, 0) / S;
  if (S >= 2) {
    const sd = Math.sqrt(perSeed.reduce((a, b) => a + (b - slope) ** 2, 0) / (S - 1));
    const half = (studentT975(S - 1) * sd) / Math.sqrt(S);
    return { slope, interval: [slope - half, slope + half], method: 'seeds', perSeed, xs: [...xs] };
  }
  const f = fits[0];
  if (!Number.isFinite(f.slopeStdErr)) return { slope, interval: null, method: 'none', perSeed, xs: [...xs] };
  const half = studentT975(f.points - 2) * f.slopeStdErr;
  return { slope, interval: [slope - half, slope + half], method: 'ols', perSeed, xs: [...xs] };
}

/** Mean and 95% Student-t interval of a sample (one value: no interval). */
export function meanInterval(values: readonly number[]): { mean: number; interval: [number, number] | null } {
  if (values.length === 0) throw new Error('meanInterval: no values');
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, interval: null };
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = (studentT975(n - 1) * sd) / Math.sqrt(n);
  return { mean, interval: [mean - half, mean + half] };
}

/**
 * The claim table: for each figure, what the paper reports beside what we measured, with the
 * measurement's 95% interval and a verdict in plain words. Every row is plain data, stored in
 * report.json and rendered into the HTML pages from that same data.
 */
import type { SlopeEstimate } from './fit.ts';

export type Verdict = 'agrees' | 'roughly' | 'disagrees' | 'holds' | 'fails' | 'inconclusive' | 'measured';

/** A slope interval wider than this (half-width) settles nothing. */
export const MAX_HALF_WIDTH = 0.5;

export interface Claim {
  /** The figure's id (1, 2, 3, S2, ...). */
  figure: string;
  /** The claim, in words. */
  claim: string;
  /** What the paper reports, as text (e.g. "-0.5", "smaller"). */
  paper: string;
  /** The paper's number when it is one (a slope), else null. */
  paperValue: number | null;
  /** Our measured value. */
  measured: number;
  /** 95% interval of the measured value (null: one sample, no interval). */
  interval: [number, number] | null;
  verdict: Verdict;
  /** One sentence: the verdict and why. */
  words: string;
}

const fmt = (v: number): string => (Math.abs(v) >= 0.01 && Math.abs(v) < 1000 ? v.toFixed(2) : v.toExponential(2));
export const formatInterval = (i: [number, number] | null): string => (i === null ? 'n/a' : `[${fmt(i[0])}, ${fmt(i[1])}]`);
export const formatValue = fmt;

/**
 * A measured slope against the paper's: 'agrees' when the 95% interval holds the paper's value
 * and is narrower than +-MAX_HALF_WIDTH ('inconclusive' when wider, or when there is no
 * interval), 'roughly' when the interval excludes it but the estimate is within `tolerance` (the
 * paper's values are read off log-log plots and stated as "roughly"), 'disagrees' otherwise.
 * @example slopeClaim('1', 'hidden-layer weight change ~ 1/n', -1, estimate, 0.15)
 */
export function slopeClaim(figure: string, claim: string, paperValue: number, e: SlopeEstimate, tolerance = 0.15): Claim {
  const inside = e.interval === null || (e.interval[0] <= paperValue && paperValue <= e.interval[1]);
  const wide = e.interval === null || (e.interval[1] - e.interval[0]) / 2 > MAX_HALF_WIDTH;
  const gap = e.slope - paperValue;
  const verdict: Verdict = inside ? (wide ? 'inconclusive' : 'agrees') : Math.abs(gap) <= tolerance ? 'roughly' : 'disagrees';
  const how = e.method === 'seeds' ? `over ${e.perSeed.length} seeds` : e.method === 'ols' ? 'from one seed (OLS interval)' : 'from one seed, two points (no interval)';
  const words =
    verdict === 'inconclusive'
      ? `inconclusive: the ${e.interval ? `95% interval ${formatInterval(e.interval)}` : 'estimate'} ${how} is too wide to tell ${fmt(e.slope)} from the paper's ${paperValue}; more seeds or a wider range would settle it`
      : verdict === 'agrees'
      ? `agrees: the 95% interval ${how} contains the paper's ${paperValue}`
      : verdict === 'roughly'
        ? `roughly agrees: ${fmt(e.slope)} is within ${tolerance} of the paper's ${paperValue}, though the interval ${how} excludes it`
        : `disagrees: ${fmt(e.slope)} is ${gap < 0 ? 'steeper' : 'shallower'} than the paper's ${paperValue} by ${fmt(Math.abs(gap))} (interval ${how})`;
  return { figure, claim, paper: String(paperValue), paperValue, measured: e.slope, interval: e.interval, verdict, words };
}

/**
 * A qualitative claim measured by one number that must lie below a bound (e.g. a ratio < 1, an RMSE
 * below a tolerance): 'holds' when the whole interval (or the value, without one) is below it.
 */
export function boundClaim(figure: string, claim: string, paper: string, measured: number, interval: [number, number] | null, bound: number, what: string): Claim {
  const top = interval === null ? measured : interval[1];
  const verdict: Verdict = top < bound ? 'holds' : measured < bound ? 'inconclusive' : 'fails';
  const range = interval ? ` (95% interval ${formatInterval(interval)})` : '';
  const words =
    verdict === 'holds'
      ? `holds: ${what} ${fmt(measured)}${range} is below ${fmt(bound)}`
      : verdict === 'inconclusive'
        ? `inconclusive: ${what} ${fmt(measured)} is below ${fmt(bound)} but its 95% interval ${formatInterval(interval)} reaches past it`
        : `fails: ${what} ${fmt(measured)}${range} is not below ${fmt(bound)}`;
  return { figure, claim, paper, paperValue: null, measured, interval, verdict, words };
}

/** A measurement the paper plots without stating a number: reported, nothing to check. */
export function measuredClaim(figure: string, claim: string, paper: string, e: { slope: number; interval: [number, number] | null }, what = 'slope'): Claim {
  return {
    figure, claim, paper, paperValue: null, measured: e.slope, interval: e.interval, verdict: 'measured',
    words: `measured: ${what} ${fmt(e.slope)}${e.interval ? ` (95% interval ${formatInterval(e.interval)})` : ''}; the paper states no number to check`,
  };
}

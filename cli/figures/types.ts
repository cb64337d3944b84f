/** What every figure of the suite receives and returns. */
import type { Progress } from '../progress.ts';
import type { PlotSpec } from '../report.ts';
import type { Claim } from './claims.ts';
import type { Scale } from './scales.ts';

export const FIGURE_IDS = ['1', '2', '3', 'S2', 'S3', 'S5', 'S9'] as const;
export type FigureId = (typeof FIGURE_IDS)[number];

export interface FigureContext {
  scale: Scale;
  /** Independent replicates (seed s: data split s and initialization s). */
  seeds: number;
  /** CIFAR-10 binary folder (Figures 3, S2, S5's CNNs). */
  dataDir: string;
  /** The backend already initialized by the command. */
  backend: 'cpu' | 'webgpu';
  progress: Progress;
  log: (line: string) => void;
}

/** A finished figure: its page and every number behind it (kept in --out for resume). */
export interface FigureResult {
  id: FigureId;
  title: string;
  /** The setup that produced it; a resumed run reuses the result only when this matches. */
  config: unknown;
  seconds: number;
  /** CPU seconds of the process (all threads) while the figure ran: the cost on a shared machine. */
  cpuSeconds: number;
  claims: Claim[];
  summary: [string, string][];
  plots: PlotSpec[];
  notes: string[];
  /** All measured numbers (per seed, per width, ...). */
  data: unknown;
}

export interface Figure {
  id: FigureId;
  title: string;
  /** The sizes this figure uses at a scale (also its resume fingerprint). */
  config(ctx: Pick<FigureContext, 'scale' | 'seeds' | 'dataDir'>): unknown;
  run(ctx: FigureContext): Promise<Omit<FigureResult, 'id' | 'title' | 'config' | 'seconds' | 'cpuSeconds'>>;
}

/**
 * The suite's sizes. 'paper' is the paper's setup (PAPER.md section 9; hours on a CPU);
 * 'small' (the default) keeps each figure's shape and fits all figures well within 30 minutes on
 * 2 idle CPU cores (widths up to 512, |D| = 128; see the README for the measured run); 'tiny' is what the tests run (seconds per figure, the numbers mean nothing).
 */
export const SCALES = ['tiny', 'small', 'paper'] as const;
export type Scale = (typeof SCALES)[number];

const pow2 = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => 2 ** (from + i));

export interface Sizes {
  /** Default number of seeds. */
  seeds: number;
  fig1: { widths: number[]; depth: number; trainSize: number; testSize: number; steps: number };
  fig2: { width: number; depth: number; ensemble: number; trainSize: number; inputDim: number; testPoints: number; steps: number[] };
  fig3: { width: number; depth: number; trainSize: number; testSize: number; steps: number };
  s2: { channels: number; imageSize: number; trainSize: number; testSize: number; steps: number; beta: number };
  s3: { width: number; trainSize: number; testSize: number; steps: number; batchSize: number; lr: number; beta: number; evaluations: number };
  s5: {
    trainSize: number; testSize: number; steps: number;
    fcWidths: number[]; fcDepth: number;
    /** The same sweep with erf instead of ReLU: a smooth control for the ReLU slope. */
    erfControl: boolean;
    cnnChannels: number[]; imageSize: number;
    wrnChannels: number[];
    depths: number[]; depthWidth: number;
    trainSizes: number[]; sizeWidth: number;
  };
  s9: { widths: number[]; points: number; depth: number };
}

export const SIZES: Record<Scale, Sizes> = {
  tiny: {
    seeds: 2,
    fig1: { widths: [8, 16, 32], depth: 3, trainSize: 8, testSize: 4, steps: 10 },
    fig2: { width: 16, depth: 2, ensemble: 4, trainSize: 4, inputDim: 4, testPoints: 5, steps: [0, 4] },
    fig3: { width: 16, depth: 2, trainSize: 8, testSize: 4, steps: 10 },
    s2: { channels: 4, imageSize: 4, trainSize: 8, testSize: 4, steps: 10, beta: 0.9 },
    s3: { width: 16, trainSize: 20, testSize: 10, steps: 6, batchSize: 5, lr: 0.5, beta: 0.9, evaluations: 3 },
    s5: {
      trainSize: 8, testSize: 4, steps: 10, fcWidths: [8, 16, 32], fcDepth: 2, erfControl: true,
      cnnChannels: [2, 4], imageSize: 4, wrnChannels: [2, 4], depths: [1, 2], depthWidth: 16, trainSizes: [4, 8], sizeWidth: 16,
    },
    s9: { widths: [8, 16, 32], points: 4, depth: 2 },
  },
  small: {
    seeds: 3,
    fig1: { widths: pow2(4, 9), depth: 3, trainSize: 128, testSize: 64, steps: 200 },
    fig2: { width: 256, depth: 3, ensemble: 24, trainSize: 8, inputDim: 8, testPoints: 33, steps: [0, 2, 16, 128] },
    fig3: { width: 128, depth: 5, trainSize: 128, testSize: 64, steps: 200 },
    s2: { channels: 16, imageSize: 8, trainSize: 128, testSize: 64, steps: 200, beta: 0.9 },
    s3: { width: 256, trainSize: 512, testSize: 256, steps: 200, batchSize: 64, lr: 1, beta: 0.9, evaluations: 12 },
    s5: {
      trainSize: 128, testSize: 64, steps: 300, fcWidths: pow2(5, 9), fcDepth: 2, erfControl: true,
      cnnChannels: pow2(2, 5), imageSize: 4, wrnChannels: pow2(2, 4), depths: [1, 2, 3, 4, 5], depthWidth: 128, trainSizes: [32, 64, 128, 256], sizeWidth: 128,
    },
    s9: { widths: pow2(4, 9), points: 32, depth: 2 },
  },
  paper: {
    seeds: 5,
    fig1: { widths: pow2(4, 12), depth: 3, trainSize: 128, testSize: 128, steps: 1000 },
    fig2: { width: 8192, depth: 3, ensemble: 100, trainSize: 128, inputDim: 8, testPoints: 33, steps: [0, 16, 256, 65536] },
    fig3: { width: 2048, depth: 5, trainSize: 256, testSize: 256, steps: 1000 },
    s2: { channels: 512, imageSize: 32, trainSize: 128, testSize: 128, steps: 1000, beta: 0.9 },
    s3: { width: 2048, trainSize: 10000, testSize: 2000, steps: 5000, batchSize: 64, lr: 1, beta: 0.9, evaluations: 40 },
    s5: {
      trainSize: 256, testSize: 256, steps: 1000, fcWidths: pow2(5, 12), fcDepth: 3, erfControl: true,
      cnnChannels: pow2(5, 9), imageSize: 32, wrnChannels: pow2(5, 8), depths: [1, 2, 4, 8, 16], depthWidth: 1024, trainSizes: [64, 128, 256, 512, 1024], sizeWidth: 1024,
    },
    s9: { widths: pow2(4, 12), points: 64, depth: 3 },
  },
};

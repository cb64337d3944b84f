/**
 * The app's settings: one plain object, its defaults, validation, and its encoding in the page's
 * URL query (so a setting is shared as a link). Pure: the page, the worker and Node tests use it.
 */

export type DatasetChoice = 'mnist' | 'synth1d' | 'synth2d' | 'cifar2';
export type ArchChoice = 'fc' | 'cnn' | 'resnet';
export type ActivationChoice = 'relu' | 'erf' | 'tanh';
export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

export interface AppSettings {
  data: DatasetChoice;
  /** The MNIST pair: digitA -> -1, digitB -> +1. */
  digitA: number;
  digitB: number;
  arch: ArchChoice;
  width: number;
  /** Hidden layers (fc, cnn) or residual blocks (resnet). */
  depth: number;
  activation: ActivationChoice;
  /** sigma_w^2 = W_std^2 and sigma_b^2 = b_std^2 (0: no bias), the paper's notation. */
  sigmaW2: number;
  sigmaB2: number;
  parameterization: 'ntk' | 'standard';
  /** null: 1 / lambda_max, half the stable threshold. */
  lr: number | null;
  loss: 'sum/2' | 'mean/2';
  steps: number;
  seed: number;
  trainSize: number;
  testSize: number;
  /** Test points whose outputs are plotted. */
  points: number;
  /** Widths of the width sweep, run in turn. */
  sweep: number[];
  /** Networks in the ensemble of the GP view. */
  ensemble: number;
  backend: BackendChoice;
}

/** The CLI study's setup (cli/study.ts): MNIST 4 vs 9, ReLU FC, sigma_w^2 = 2, sigma_b^2 = 0.1, NTK parameterization. */
export const DEFAULTS: AppSettings = {
  data: 'mnist',
  digitA: 4,
  digitB: 9,
  arch: 'fc',
  width: 256,
  depth: 2,
  activation: 'relu',
  sigmaW2: 2,
  sigmaB2: 0.1,
  parameterization: 'ntk',
  lr: null,
  loss: 'sum/2',
  steps: 300,
  seed: 0,
  trainSize: 128,
  testSize: 128,
  points: 4,
  sweep: [64, 128, 256, 512],
  ensemble: 16,
  backend: 'auto',
};

const CHOICES = {
  data: ['mnist', 'synth1d', 'synth2d', 'cifar2'],
  arch: ['fc', 'cnn', 'resnet'],
  activation: ['relu', 'erf', 'tanh'],
  parameterization: ['ntk', 'standard'],
  loss: ['sum/2', 'mean/2'],
  backend: ['auto', 'webgpu', 'cpu'],
} as const;

/** Integer settings and their inclusive ranges. */
const INTS: Partial<Record<keyof AppSettings, [number, number]>> = {
  digitA: [0, 9],
  digitB: [0, 9],
  width: [1, 8192],
  depth: [1, 16],
  steps: [1, 100_000],
  seed: [0, 0xffffffff],
  trainSize: [2, 2000],
  testSize: [1, 2000],
  points: [0, 16],
  ensemble: [2, 256],
};

/** The URL parameter of each setting (short, stable: links depend on them). */
const KEYS: Record<keyof AppSettings, string> = {
  data: 'data',
  digitA: 'a',
  digitB: 'b',
  arch: 'arch',
  width: 'width',
  depth: 'depth',
  activation: 'act',
  sigmaW2: 'sw2',
  sigmaB2: 'sb2',
  parameterization: 'param',
  lr: 'lr',
  loss: 'loss',
  steps: 'steps',
  seed: 'seed',
  trainSize: 'train',
  testSize: 'test',
  points: 'points',
  sweep: 'sweep',
  ensemble: 'ens',
  backend: 'backend',
};

function parseInt(name: string, text: string, [lo, hi]: [number, number]): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`settings: ${name} must be an integer in [${lo}, ${hi}], got '${text}'`);
  return v;
}

function parsePositive(name: string, text: string, allowZero: boolean): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(`settings: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got '${text}'`);
  }
  return v;
}

/**
 * Parses one setting from its text form (a URL parameter or a form field); errors name the setting.
 * @example parseSetting('width', '512') // 512
 */
export function parseSetting<K extends keyof AppSettings>(name: K, text: string): AppSettings[K] {
  const range = INTS[name];
  if (range) return parseInt(name, text, range) as AppSettings[K];
  if (name in CHOICES) {
    const allowed = CHOICES[name as keyof typeof CHOICES] as readonly string[];
    if (!allowed.includes(text)) throw new RangeError(`settings: ${name} must be one of ${allowed.join(', ')}, got '${text}'`);
    return text as AppSettings[K];
  }
  switch (name) {
    case 'sigmaW2':
      return parsePositive(name, text, false) as AppSettings[K];
    case 'sigmaB2':
      return parsePositive(name, text, true) as AppSettings[K];
    case 'lr':
      return (text === 'auto' || text === '' ? null : parsePositive(name, text, false)) as AppSettings[K];
    case 'sweep': {
      const widths = text.split(',').map((w) => parseInt('sweep width', w, [1, 8192]));
      if (widths.length < 2 || widths.length > 12) throw new RangeError(`settings: sweep needs 2 to 12 widths, got '${text}'`);
      if (new Set(widths).size !== widths.length) throw new RangeError(`settings: sweep widths must differ, got '${text}'`);
      return widths.sort((a, b) => a - b) as AppSettings[K];
    }
    default:
      throw new RangeError(`settings: unknown setting '${String(name)}'`);
  }
}

/** The text form of one setting (inverse of parseSetting). */
export function formatSetting<K extends keyof AppSettings>(name: K, value: AppSettings[K]): string {
  if (name === 'lr') return value === null ? 'auto' : String(value);
  if (name === 'sweep') return (value as number[]).join(',');
  return String(value);
}

/** Checks relations between settings; returns the settings or throws naming the conflict. */
export function checkSettings(s: AppSettings): AppSettings {
  if (s.digitA === s.digitB) throw new RangeError(`settings: the MNIST pair needs two different digits, got ${s.digitA} and ${s.digitB}`);
  if (s.arch === 'cnn' && (s.data === 'synth1d' || s.data === 'synth2d')) {
    throw new RangeError(`settings: a CNN needs image data (MNIST or CIFAR-10), not the ${s.data === 'synth1d' ? '1-D' : '2-D'} synthetic regression`);
  }
  if (s.points > s.testSize) throw new RangeError(`settings: points (${s.points}) must not exceed the test size (${s.testSize})`);
  return s;
}

/**
 * Settings from a URL query: missing parameters take their defaults; a bad one is an error naming it.
 * @example settingsFromQuery('?width=512&act=erf').width // 512
 */
export function settingsFromQuery(query: string): AppSettings {
  const params = new URLSearchParams(query);
  const out: AppSettings = { ...DEFAULTS, sweep: [...DEFAULTS.sweep] };
  const known = new Set(Object.values(KEYS));
  for (const key of params.keys()) if (!known.has(key)) throw new RangeError(`settings: unknown URL parameter '${key}'`);
  for (const name of Object.keys(KEYS) as (keyof AppSettings)[]) {
    const text = params.get(KEYS[name]);
    if (text !== null) (out as unknown as Record<string, unknown>)[name] = parseSetting(name, text);
  }
  return checkSettings(out);
}

/** The URL query of `s`, listing only what differs from the defaults (short links). */
export function queryFromSettings(s: AppSettings): string {
  const params = new URLSearchParams();
  for (const name of Object.keys(KEYS) as (keyof AppSettings)[]) {
    const text = formatSetting(name, s[name]);
    if (text !== formatSetting(name, DEFAULTS[name])) params.set(KEYS[name], text);
  }
  const q = params.toString();
  return q ? `?${q}` : '';
}

/** W_std and b_std (null: no bias) from the paper's sigma^2. */
export function weightStds(s: Pick<AppSettings, 'sigmaW2' | 'sigmaB2'>): { W_std: number; b_std: number | null } {
  return { W_std: Math.sqrt(s.sigmaW2), b_std: s.sigmaB2 > 0 ? Math.sqrt(s.sigmaB2) : null };
}

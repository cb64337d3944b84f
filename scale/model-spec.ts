/**
 * A JSON description of a stax-style model, so a worker on another machine rebuilds exactly the
 * model the kernel store was made for (the store's metadata carries the spec, never code).
 *
 * The format: an array of layers (read as `serial(...)`), each a string (a layer without options)
 * or an object { "layer": name, ...options } with the options of the models/ constructor:
 *
 *   [ { "layer": "Dense", "out": 512, "W_std": 1.5, "b_std": 0.05 }, "Relu",
 *     { "layer": "Dense", "out": 1, "W_std": 1.5, "b_std": 0.05 } ]
 *
 * Layers: Dense {out, W_std?, b_std?, parameterization?}, Conv {out, filter: [kh, kw], strides?,
 * padding?, dilation?, W_std?, b_std?, parameterization?}, Relu, Tanh, Erf {a?, b?, c?}, Identity,
 * Flatten, AvgPool {window, strides?, padding?}, GlobalAvgPool, and Serial {layers: [...]}.
 * Unknown layers or options are errors naming them, so a typo never builds a different model.
 */
import type { AnyLayer } from '../models/layer.ts';
import { Conv, Dense, type Parameterization } from '../models/linear.ts';
import { Erf, Identity, Relu, Tanh } from '../models/activations.ts';
import { AvgPool, Flatten, GlobalAvgPool } from '../models/pooling.ts';
import { serial } from '../models/combinators.ts';

export type LayerSpec = string | { readonly layer: string; readonly [option: string]: unknown };
export type ModelSpec = readonly LayerSpec[];

type Options = Record<string, unknown>;

function fail(where: string, message: string): never {
  throw new Error(`model spec: ${where}: ${message}`);
}

function only(where: string, o: Options, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (k !== 'layer' && !allowed.includes(k)) fail(where, `unknown option '${k}' (allowed: ${allowed.join(', ') || 'none'})`);
}

function num(where: string, o: Options, key: string, fallback?: number): number | undefined {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, `${key} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function weights(where: string, o: Options): { W_std?: number; b_std?: number | null; parameterization?: Parameterization } {
  const b = o.b_std;
  if (b !== undefined && b !== null && (typeof b !== 'number' || !Number.isFinite(b))) fail(where, `b_std must be a number or null, got ${JSON.stringify(b)}`);
  const p = o.parameterization;
  if (p !== undefined && p !== 'ntk' && p !== 'standard') fail(where, `parameterization must be 'ntk' or 'standard', got ${JSON.stringify(p)}`);
  return { W_std: num(where, o, 'W_std'), b_std: b as number | null | undefined, parameterization: p as Parameterization | undefined };
}

function pair(where: string, o: Options, key: string): readonly [number, number] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v === 'number') return [v, v];
  if (!Array.isArray(v) || v.length !== 2 || !v.every((d) => Number.isInteger(d) && d >= 1)) fail(where, `${key} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

function padding(where: string, o: Options): 'SAME' | 'VALID' | undefined {
  const v = o.padding;
  if (v !== undefined && v !== 'SAME' && v !== 'VALID') fail(where, `padding must be 'SAME' or 'VALID', got ${JSON.stringify(v)}`);
  return v as 'SAME' | 'VALID' | undefined;
}

function buildLayer(spec: LayerSpec, where: string): AnyLayer {
  const o: Options = typeof spec === 'string' ? { layer: spec } : spec && typeof spec === 'object' && !Array.isArray(spec) ? { ...spec } : fail(where, `a layer is a name or { "layer": name, ... }, got ${JSON.stringify(spec)}`);
  const name = o.layer;
  if (typeof name !== 'string') fail(where, `missing "layer" name in ${JSON.stringify(spec)}`);
  const at = `${where} (${name})`;
  switch (name) {
    case 'Dense': {
      only(at, o, ['out', 'W_std', 'b_std', 'parameterization']);
      const out = o.out;
      if (!Number.isInteger(out) || (out as number) < 1) fail(at, `out must be a positive integer, got ${JSON.stringify(out)}`);
      return Dense(out as number, weights(at, o)) as AnyLayer;
    }
    case 'Conv': {
      only(at, o, ['out', 'filter', 'strides', 'padding', 'dilation', 'W_std', 'b_std', 'parameterization']);
      const out = o.out;
      if (!Number.isInteger(out) || (out as number) < 1) fail(at, `out must be a positive integer, got ${JSON.stringify(out)}`);
      const filter = pair(at, o, 'filter') ?? fail(at, 'filter [kh, kw] is required');
      return Conv(out as number, filter, { ...weights(at, o), strides: pair(at, o, 'strides'), padding: padding(at, o), dilation: pair(at, o, 'dilation') }) as AnyLayer;
    }
    case 'Relu': only(at, o, []); return Relu() as AnyLayer;
    case 'Tanh': only(at, o, []); return Tanh() as AnyLayer;
    case 'Identity': only(at, o, []); return Identity() as AnyLayer;
    case 'Flatten': only(at, o, []); return Flatten() as AnyLayer;
    case 'GlobalAvgPool': only(at, o, []); return GlobalAvgPool() as AnyLayer;
    case 'Erf':
      only(at, o, ['a', 'b', 'c']);
      return Erf({ a: num(at, o, 'a'), b: num(at, o, 'b'), c: num(at, o, 'c') }) as AnyLayer;
    case 'AvgPool': {
      only(at, o, ['window', 'strides', 'padding']);
      const window = pair(at, o, 'window') ?? fail(at, 'window [h, w] is required');
      return AvgPool(window, pair(at, o, 'strides'), padding(at, o)) as AnyLayer;
    }
    case 'Serial': {
      only(at, o, ['layers']);
      return buildModel(o.layers as ModelSpec, at);
    }
    default:
      return fail(where, `unknown layer '${name}' (Dense, Conv, Relu, Tanh, Erf, Identity, Flatten, AvgPool, GlobalAvgPool, Serial)`);
  }
}

/**
 * The model a spec describes, as `serial(...)` of its layers.
 * @example buildModel([{ layer: 'Dense', out: 512, W_std: 1.5 }, 'Relu', { layer: 'Dense', out: 1, W_std: 1.5 }])
 */
export function buildModel(spec: ModelSpec, where = 'model'): AnyLayer {
  if (!Array.isArray(spec) || spec.length === 0) fail(where, `a model is a non-empty array of layers, got ${JSON.stringify(spec)}`);
  return serial(...spec.map((l, i) => buildLayer(l, `${where}[${i}]`))) as AnyLayer;
}

/** Parses and checks a spec from JSON text (builds it once, so every error shows before any work). */
export function parseModelSpec(json: string): ModelSpec {
  let spec: unknown;
  try {
    spec = JSON.parse(json);
  } catch (e) {
    throw new Error(`model spec: not valid JSON: ${(e as Error).message}`);
  }
  buildModel(spec as ModelSpec);
  return spec as ModelSpec;
}

/**
 * ONE table-driven template for every elementwise primitive: unary math, broadcasting binary
 * arithmetic and comparisons, where, and the copies (identity, stopGradient, cast f32 -> f32).
 * Each operand is read in one of three modes chosen from its broadcast strides after axis
 * collapsing: `same` (index i, no arithmetic), `scalar` (index 0) or `strided` (coordinates of
 * i dotted with stride uniforms). Shapes and strides are uniforms, so the key is op + rank + modes.
 * Without strided operands and with n % 4 == 0, each thread moves a vec4.
 * int32 operands (i32 storage) use INT_EXPRESSIONS, the ops engine/primitives/elementwise.ts
 * defines on int32; cast converts between f32 and i32.
 */
import { bindings, collapseAxes, contiguousStrides, elementGrid, ENTRY_PARAMS, ISNAN_WGSL, lazyProgram, LINEAR_GROUP, MAX_WGSL, MIN_WGSL, product, UniformBlock, unravel, type Elem } from './common.ts';
import { broadcastStrides } from '../../engine/shape.ts';
import type { ShaderProgram } from './program.ts';

const WORKGROUP = 256;

/**
 * Conditions use non-short-circuit & and | (not && and ||): short-circuit operators are control
 * flow, which SwiftShader's compiler handles very slowly (a conv kernel with 24 of them per loop
 * took 53 s to compile there, 0.6 s without).
 *
 * Helper functions, each with the helpers it calls. Float32-accurate versions of what WGSL's
 * builtins lack (erf, expm1, log1p) or get wrong (tanh overflows to NaN on some drivers;
 * pow is undefined for negative bases).
 */
const HELPERS: Record<string, { deps: string[]; code: string }> = {
  tg_expm1: {
    deps: [],
    // Taylor series where exp(x) - 1 would cancel; its truncation error at |x| = 0.35 is 2e-10.
    code: `fn tg_expm1(x: f32) -> f32 {
  if (abs(x) < 0.35) {
    return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * (0.0013888889 + x * 0.0001984127))))));
  }
  return exp(x) - 1.0;
}`,
  },
  tg_log1p: {
    deps: [],
    // log1p(x) = 2 atanh(z), z = x / (2 + x): |z| < 0.2 here, so the odd series converges fast.
    code: `fn tg_log1p(x: f32) -> f32 {
  if ((x > -0.3) & (x < 0.5)) {
    let z = x / (2.0 + x);
    let z2 = z * z;
    return 2.0 * z * (1.0 + z2 * (0.33333334 + z2 * (0.2 + z2 * (0.14285715 + z2 * (0.11111111 + z2 * (0.09090909 + z2 * 0.07692308))))));
  }
  return log(1.0 + x);
}`,
  },
  tg_tanh: {
    deps: ['tg_expm1'],
    // Via expm1 of -2|x|: no overflow for large |x| and no cancellation near 0.
    code: `fn tg_tanh(x: f32) -> f32 {
  let e = tg_expm1(-2.0 * abs(x));
  return sign(x) * (-e / (2.0 + e));
}`,
  },
  tg_erf: {
    deps: [],
    // Coefficients fitted here by weighted least squares on Chebyshev nodes (float64):
    // |x| <= 0.9: erf(x) = x P(x^2); 0.9 < |x| < 4: erf = 1 - exp(Q(|x|)) with Q ~ log(erfc);
    // beyond 4, erfc < 2e-8 rounds away. Max error in float32 evaluation: 1.3e-7 absolute
    // (2 ulp), 1.8e-7 relative near 0.
    code: `fn tg_erf(x: f32) -> f32 {
  let t = abs(x);
  if (t <= 0.9) {
    let s = x * x;
    return x * (1.12837911 + s * (-0.376125544 + s * (0.11282409 + s * (-0.0267874114 + s * (0.00502330344 + s * -0.000614417135)))));
  }
  if (t >= 4.0) { return sign(x); }
  let q = 0.000178604372 + t * (-1.12953937 + t * (-0.633282721 + t * (-0.10837248 + t * (0.0251994561
    + t * (-0.00421382952 + t * (0.000448237552 + t * (-0.0000235403186 + t * 1.83118999e-7)))))));
  return sign(x) * (1.0 - exp(q));
}`,
  },
  tg_acos: {
    deps: [],
    // atan2 of (sqrt(1 - x^2), x), with 1 - x^2 = (1 - x)(1 + x): accurate near +-1, where the
    // builtin acos of some drivers loses half its digits. NaN outside [-1, 1] (from a uniform).
    code: `fn tg_acos(x: f32) -> f32 {
  if (!(abs(x) <= 1.0)) { return u.nan; }
  return atan2(sqrt((1.0 - x) * (1.0 + x)), x);
}`,
  },
  tg_asin: {
    deps: [],
    code: `fn tg_asin(x: f32) -> f32 {
  if (!(abs(x) <= 1.0)) { return u.nan; }
  return atan2(x, sqrt((1.0 - x) * (1.0 + x)));
}`,
  },
  tg_isnan: { deps: [], code: ISNAN_WGSL },
  tg_sign: {
    deps: [],
    // Integer selects on the bits, as on the CPU: sign(NaN) = NaN and sign(-0) = sign(+0) = +0
    // (float selects came out as -0 on lavapipe, which treats signed zeros as interchangeable).
    code: `fn tg_sign(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let mag = bits & 0x7fffffffu;
  let unit = (bits & 0x80000000u) | 0x3f800000u;
  return bitcast<f32>(select(select(unit, 0u, mag == 0u), bits, mag > 0x7f800000u));
}`,
  },
  tg_to_i32: {
    deps: [],
    // As the CPU (engine/dtype.ts toInt32): truncation, saturation, NaN to 0. NaN is found from
    // its bits: a != a may be folded away by drivers that assume no NaNs.
    code: `fn tg_to_i32(x: f32) -> i32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return 0; }
  if (x >= 2147483648.0) { return 2147483647; }
  if (x <= -2147483648.0) { return -2147483647 - 1; }
  return i32(x);
}`,
  },
  tg_max: { deps: ['tg_isnan'], code: MAX_WGSL },
  tg_min: { deps: ['tg_isnan'], code: MIN_WGSL },
  tg_pow: {
    deps: [],
    // Math.pow semantics: x^0 = 1, negative bases allowed for integer exponents (sign by parity).
    // Infinity and NaN come from uniforms: WGSL rejects them as constants.
    code: `fn tg_pow(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (x == 0.0) { return select(u.inf, 0.0, y > 0.0); }
  let m = pow(abs(x), y);
  if (x > 0.0) { return m; }
  if (floor(y) != y) { return u.nan; }
  let odd = (abs(y) < 16777216.0) & ((i32(abs(y)) & 1) == 1);
  return select(m, -m, odd);
}`,
  },
};

/** WGSL expressions in the operand values a, b, c. */
export const ELEMENTWISE_EXPRESSIONS: Record<string, { arity: number; expr: string }> = {
  neg: { arity: 1, expr: '-a' },
  exp: { arity: 1, expr: 'exp(a)' },
  log: { arity: 1, expr: 'log(a)' },
  sqrt: { arity: 1, expr: 'sqrt(a)' },
  tanh: { arity: 1, expr: 'tg_tanh(a)' },
  erf: { arity: 1, expr: 'tg_erf(a)' },
  abs: { arity: 1, expr: 'abs(a)' },
  sign: { arity: 1, expr: 'tg_sign(a)' },
  sin: { arity: 1, expr: 'sin(a)' },
  cos: { arity: 1, expr: 'cos(a)' },
  log1p: { arity: 1, expr: 'tg_log1p(a)' },
  expm1: { arity: 1, expr: 'tg_expm1(a)' },
  acos: { arity: 1, expr: 'tg_acos(a)' },
  asin: { arity: 1, expr: 'tg_asin(a)' },
  identity: { arity: 1, expr: 'a' },
  stopGradient: { arity: 1, expr: 'a' },
  cast: { arity: 1, expr: 'a' },
  add: { arity: 2, expr: 'a + b' },
  sub: { arity: 2, expr: 'a - b' },
  mul: { arity: 2, expr: 'a * b' },
  div: { arity: 2, expr: 'a / b' },
  // NaN propagates, as on the CPU.
  max: { arity: 2, expr: 'tg_max(a, b)' },
  min: { arity: 2, expr: 'tg_min(a, b)' },
  pow: { arity: 2, expr: 'tg_pow(a, b)' },
  greater: { arity: 2, expr: 'select(0.0, 1.0, a > b)' },
  greaterEqual: { arity: 2, expr: 'select(0.0, 1.0, a >= b)' },
  less: { arity: 2, expr: 'select(0.0, 1.0, a < b)' },
  lessEqual: { arity: 2, expr: 'select(0.0, 1.0, a <= b)' },
  // NaN is unequal to everything, itself included; the bit tests keep it so where the compiler
  // assumes no NaNs (lavapipe's gave notEqual(NaN, NaN) = 0). A NaN condition counts as true.
  equal: { arity: 2, expr: 'select(0.0, 1.0, (a == b) & !(tg_isnan(a) | tg_isnan(b)))' },
  notEqual: { arity: 2, expr: 'select(0.0, 1.0, (a != b) | tg_isnan(a) | tg_isnan(b))' },
  where: { arity: 3, expr: 'select(c, b, (a != 0.0) | tg_isnan(a))' },
};

/** The ops defined on int32 operands (i32 arithmetic wraps modulo 2^32, as the CPU's Int32Array). */
const INT_EXPRESSIONS: Record<string, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  greater: 'select(0, 1, a > b)',
  greaterEqual: 'select(0, 1, a >= b)',
  less: 'select(0, 1, a < b)',
  lessEqual: 'select(0, 1, a <= b)',
  equal: 'select(0, 1, a == b)',
  notEqual: 'select(0, 1, a != b)',
  identity: 'a',
  stopGradient: 'a',
};

/** The WGSL expression of `op` for operands of `elems` (inputs, then the output). */
function expressionFor(op: string, elems: readonly Elem[]): string {
  if (op === 'cast') {
    const [from, to] = elems;
    return from === to ? 'a' : to === 'i32' ? 'tg_to_i32(a)' : 'f32(a)';
  }
  if (!elems.includes('i32')) return ELEMENTWISE_EXPRESSIONS[op].expr;
  const expr = INT_EXPRESSIONS[op];
  if (expr === undefined) throw new Error(`${op}: the WebGPU backend has no int32 kernel for this op`);
  return expr;
}

/** The WGSL of the helper functions `expr` calls, dependencies first (also used by random.ts). */
export function helperCode(expr: string): string {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of HELPERS[name].deps) visit(dep);
    out.push(HELPERS[name].code);
  };
  for (const name of Object.keys(HELPERS)) if (expr.includes(`${name}(`)) visit(name);
  return out.join('\n\n');
}

type Mode = 'same' | 'scalar' | 'strided';
const MODE_CODE: Record<Mode, string> = { same: 'i', scalar: '0', strided: 's' };

const OPERAND = ['a', 'b', 'c'];

/**
 * The program computing elementwise `op` of inputs of `inputShapes` broadcast to `outShape`;
 * `elems` are the element types of the inputs and then of the output (default all f32).
 * @example elementwiseProgram('add', [[4, 3], [3]], [4, 3])
 */
export function elementwiseProgram(op: string, inputShapes: readonly (readonly number[])[], outShape: readonly number[], elems: readonly Elem[] = []): ShaderProgram {
  const base = ELEMENTWISE_EXPRESSIONS[op];
  if (!base) throw new Error(`${op}: not an elementwise op of the WebGPU backend`);
  if (inputShapes.length !== base.arity) throw new Error(`${op}: expected ${base.arity} inputs, got ${inputShapes.length}`);
  const types = Array.from({ length: base.arity + 1 }, (_, k) => elems[k] ?? 'f32');
  const entry = { arity: base.arity, expr: expressionFor(op, types) };
  // Keys of all-f32 programs stay as they were; typed ones name their element types.
  const typeKey = types.includes('i32') ? `:${types.join('')}` : '';
  const n = product(outShape);
  const { shape, strides } = collapseAxes(outShape, inputShapes.map((s) => broadcastStrides(s, outShape)));
  const rank = shape.length;
  const dense = contiguousStrides(shape);
  const modes: Mode[] = strides.map((s) =>
    s.every((v) => v === 0) ? 'scalar' : s.every((v, d) => v === dense[d] || shape[d] === 1) ? 'same' : 'strided',
  );
  const strided = modes.includes('strided');
  const u = new UniformBlock().u32('n', n);
  if (op === 'pow') u.f32('inf', Infinity).f32('nan', NaN);
  if (op === 'acos' || op === 'asin') u.f32('nan', NaN);
  if (strided) {
    shape.forEach((d, i) => u.u32(`d${i}`, d));
    modes.forEach((m, k) => {
      if (m === 'strided') strides[k].forEach((s, i) => u.u32(`s${k}_${i}`, s));
    });
  }
  const modeKey = modes.map((m) => MODE_CODE[m]).join('');
  if (!strided && n % 4 === 0) return vec4Program(op, entry, modes, n, u, `ew4:${op}:${modeKey}${typeKey}`, types);
  const key = `ew:${op}:${strided ? rank : 0}:${modeKey}${typeKey}`;
  return lazyProgram(key, entry.arity, u.words(), elementGrid(n, WORKGROUP), n, () => {
    const reads = modes.map((m, k) => {
      if (m === 'same') return `let ${OPERAND[k]} = in${k}[i];`;
      if (m === 'scalar') return `let ${OPERAND[k]} = in${k}[0];`;
      const terms = shape.map((_, d) => `c${d} * u.s${k}_${d}`).join(' + ');
      return `let ${OPERAND[k]} = in${k}[${terms}];`;
    });
    return `${bindings(entry.arity, [], types)}
${u.struct()}

${helperCode(entry.expr)}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let i = group * ${WORKGROUP}u + lid;
  if (i >= u.n) { return; }
  ${strided ? unravel('i', rank, (d) => `u.d${d}`, 'c') : ''}
  ${reads.join('\n  ')}
  out[i] = ${entry.expr};
}
`;
  });
}

/**
 * Contiguous operands and n % 4 == 0: each thread moves a vec4 (measured 1.5x faster than
 * scalar threads on lavapipe for a 400k-element op) and evaluates the scalar expression per
 * component, so the helpers need no vector versions.
 */
function vec4Program(op: string, entry: { arity: number; expr: string }, modes: readonly Mode[], n: number, u: UniformBlock, key: string, types: readonly Elem[]): ShaderProgram {
  const quads = n / 4;
  const outElem = types[entry.arity];
  return lazyProgram(key, entry.arity, u.words(), elementGrid(quads, WORKGROUP), n, () => {
    const decls = modes.map((m, k) => `@group(0) @binding(${k}) var<storage, read> in${k}: array<${m === 'same' ? `vec4<${types[k]}>` : types[k]}>;`);
    const loads = modes.map((m, k) => (m === 'same' ? `let v${k} = in${k}[q];` : `let v${k} = vec4<${types[k]}>(in${k}[0]);`));
    const lanes = [0, 1, 2, 3].map((c) => `  {\n    ${modes.map((_, k) => `let ${OPERAND[k]} = v${k}[${c}];`).join(' ')}\n    r[${c}] = ${entry.expr};\n  }`);
    return `${decls.join('\n')}
@group(0) @binding(${entry.arity}) var<storage, read_write> out: array<vec4<${outElem}>>;
@group(0) @binding(${entry.arity + 1}) var<uniform> u: U;
${u.struct()}

${helperCode(entry.expr)}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let q = group * ${WORKGROUP}u + lid;
  if (q * 4u >= u.n) { return; }
  ${loads.join('\n  ')}
  var r: vec4<${outElem}>;
${lanes.join('\n')}
  out[q] = r;
}
`;
  });
}

/**
 * Kernel rules, deterministically: the PAPER.md section 6 recursion by hand, exact agreement with
 * finite networks where the empirical kernel does not depend on the draw (one affine layer),
 * layout and blocking invariances, equivalences between layers, and the errors.
 */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import { symmetricEigen, type Matrix } from '../../linalg/dense.ts';
import {
  AvgPool,
  Conv,
  Dense,
  Elementwise,
  Erf,
  Flatten,
  GlobalAvgPool,
  Identity,
  Relu,
  Tanh,
  fanInConcat,
  fanInSum,
  fanOut,
  parallel,
  serial,
  wideResnet,
  type AnyLayer,
} from '../../models/index.ts';
import { host, type HostKernels } from './host-kernel.ts';

const x = tg.normal(tg.key(11), [6, 5], 'float64');
const x2 = tg.normal(tg.key(12), [4, 5], 'float64');
const img = tg.normal(tg.key(13), [3, 4, 4, 2], 'float64');
const img2 = tg.normal(tg.key(14), [2, 4, 4, 2], 'float64');

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d / Math.max(scale, 1e-300);
}

function transposeData(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows * m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[j * m.rows + i] = m.data[i * m.cols + j];
  return out;
}

const rows = (t: Tensor) => t.arraySync() as number[][];

describe('Dense and nonlinearity rules: the PAPER.md recursion', () => {
  it('ReLU / Erf MLP in the NTK parameterization matches the recursion written out by hand', () => {
    const [w2, b2] = [1.7, 0.05];
    const o = { W_std: Math.sqrt(w2), b_std: Math.sqrt(b2) };
    const net = serial(Dense(64, o), Relu(), Dense(64, o), Erf(), Dense(3, o));
    const { nngp, ntk } = host(net.kernel(x, x2));
    const X1 = rows(x);
    const X2 = rows(x2);
    const T = (s11: number, s12: number, s22: number, kind: 'relu' | 'erf'): [number, number] => {
      if (kind === 'erf') {
        return [(2 / Math.PI) * Math.asin((2 * s12) / Math.sqrt((1 + 2 * s11) * (1 + 2 * s22))), (4 / Math.PI) / Math.sqrt((1 + 2 * s11) * (1 + 2 * s22) - 4 * s12 * s12)];
      }
      const th = Math.acos(Math.max(-1, Math.min(1, s12 / Math.sqrt(s11 * s22))));
      return [(Math.sqrt(s11 * s22) / (2 * Math.PI)) * (Math.sin(th) + (Math.PI - th) * Math.cos(th)), (Math.PI - th) / (2 * Math.PI)];
    };
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 4; j++) {
        const dot = (a: number[], b: number[]) => a.reduce((s, v, c) => s + v * b[c], 0) / 5;
        // Layer 1: K^1 = w2 x.x'/n0 + b2, Theta^1 = K^1; same for the two self-covariances.
        let [k12, k11, k22] = [dot(X1[i], X2[j]), dot(X1[i], X1[i]), dot(X2[j], X2[j])].map((v) => w2 * v + b2);
        let th = k12;
        for (const kind of ['relu', 'erf'] as const) {
          const [t, tdot] = T(k11, k12, k22, kind);
          const [t11] = T(k11, k11, k11, kind);
          const [t22] = T(k22, k22, k22, kind);
          [k12, k11, k22] = [w2 * t + b2, w2 * t11 + b2, w2 * t22 + b2];
          th = k12 + w2 * th * tdot; // Theta^l = K^l + sigma_w^2 Theta^{l-1} Tdot(K^{l-1})
        }
        expect(nngp.data[i * 4 + j]).toBeCloseTo(k12, 13);
        expect(ntk!.data[i * 4 + j]).toBeCloseTo(th, 13);
      }
    }
    expect(nngp.shape).toEqual([6, 4]);
  });

  it('one Dense layer: equals the empirical NNGP/NTK of every finite draw exactly (both parameterizations)', () => {
    for (const parameterization of ['ntk', 'standard'] as const) {
      const layer = Dense(7, { W_std: 1.3, b_std: 0.4, parameterization });
      const r = host(layer.kernel(x, x2));
      const { params } = layer.init(tg.key(3), [-1, 5], 'float64');
      const emp = empiricalNtk(layer.apply, params, x, x2, { trace: true }).dataSync();
      // The Jacobian of h = x W + b does not depend on W: its NTK is deterministic.
      expect(maxRelDiff(r.ntk!.data, emp)).toBeLessThan(1e-12);
      const X1 = rows(x);
      const X2 = rows(x2);
      const dot = X1[1].reduce((s, v, c) => s + v * X2[2][c], 0);
      // 'ntk': Theta = W_std^2 x.x'/n0 + b_std^2; 'standard': Theta = x.x' + 1 (fan_in * K0 + 1).
      const expected = parameterization === 'ntk' ? (1.69 * dot) / 5 + 0.16 : dot + 1;
      expect(r.ntk!.data[1 * 4 + 2]).toBeCloseTo(expected, 12);
      expect(r.nngp.data[1 * 4 + 2]).toBeCloseTo((1.69 * dot) / 5 + 0.16, 12);
    }
  });

  it("standard parameterization: Theta' = fan_in K + W_std^2 Theta + 1 reads the finite width", () => {
    const o = { W_std: 1.2, b_std: 0.3 };
    const ntkNet = (width: number, parameterization: 'ntk' | 'standard') =>
      serial(Dense(width, { ...o, parameterization }), Relu(), Dense(1, { ...o, parameterization }));
    const a = host(ntkNet(100, 'standard').kernel(x)).ntk!;
    const b = host(ntkNet(200, 'standard').kernel(x)).ntk!;
    const n = host(ntkNet(100, 'ntk').kernel(x));
    const nb = host(ntkNet(200, 'ntk').kernel(x));
    // NNGP and the NTK parameterization's NTK do not depend on the width; the standard NTK does:
    // Theta = width * T(K1) + 1 + W^2 (n0 K0 + 1) Tdot(K1), so Theta(200) - Theta(100) = 100 T(K1).
    expect(maxRelDiff(n.ntk!.data, nb.ntk!.data)).toBe(0);
    const t = host(serial(Dense(100, { ...o, parameterization: 'standard' }), Relu()).kernel(x)).nngp;
    for (let i = 0; i < a.data.length; i++) expect(b.data[i] - a.data[i]).toBeCloseTo(100 * t.data[i], 9);
  });

  it('Identity passes kernels through; Elementwise(erf) by quadrature equals the Erf closed form; Tanh equals Elementwise(tanh)', () => {
    const head = (act: AnyLayer) => serial(Dense(16, { W_std: 1.1, b_std: 0.2 }), act, Dense(1, { W_std: 1.1 }));
    const id = host(serial(Dense(16, { W_std: 1.1, b_std: 0.2 }), Identity(), Dense(1, { W_std: 1.1 })).kernel(x));
    const lin = host(serial(Dense(16, { W_std: 1.1, b_std: 0.2 }), Dense(1, { W_std: 1.1 })).kernel(x));
    expect(maxRelDiff(id.ntk!.data, lin.ntk!.data)).toBe(0);
    const closed = host(head(Erf()).kernel(x, x2));
    const quad = host(head(Elementwise(tg.erf, 'erf')).kernel(x, x2));
    expect(maxRelDiff(quad.nngp.data, closed.nngp.data)).toBeLessThan(1e-10);
    expect(maxRelDiff(quad.ntk!.data, closed.ntk!.data)).toBeLessThan(1e-9);
    const tanh = host(head(Tanh()).kernel(x, x2));
    const tanhEngine = host(head(Elementwise(tg.tanh, 'tanh')).kernel(x, x2));
    expect(maxRelDiff(tanh.ntk!.data, tanhEngine.ntk!.data)).toBeLessThan(1e-13);
  });

  it('Erf with a, b, c hyper-parameters uses them', () => {
    const k = (a: number, b: number, c: number) => host(serial(Dense(8, { W_std: 1.2 }), Erf({ a, b, c }), Dense(1)).kernel(x)).nngp;
    const base = k(1, 1, 0);
    const scaled = k(2, 1, 0.5);
    for (let i = 0; i < base.data.length; i++) expect(scaled.data[i]).toBeCloseTo(4 * base.data[i] + 0.25, 12);
    const viaElementwise = host(serial(Dense(8, { W_std: 1.2 }), Elementwise((v) => tg.add(tg.mul(tg.erf(tg.mul(v, 0.7)), 2), 0.5), 'e'), Dense(1)).kernel(x)).nngp;
    expect(maxRelDiff(viaElementwise.data, k(2, 0.7, 0.5).data)).toBeLessThan(1e-10);
  });
});

describe('kernel evaluation: symmetry, blocks, layouts', () => {
  const mlp = serial(Dense(32, { W_std: 1.5, b_std: 0.1 }), Tanh(), Dense(32, { W_std: 1.5 }), Relu(), Dense(2));

  it('K(x1, x2) = K(x2, x1)^T and the symmetric call agrees with the two-argument one', () => {
    const a = host(mlp.kernel(x, x2));
    const b = host(mlp.kernel(x2, x));
    expect(maxRelDiff(transposeData(b.nngp), a.nngp.data)).toBeLessThan(1e-12);
    expect(maxRelDiff(transposeData(b.ntk!), a.ntk!.data)).toBeLessThan(1e-12);
    const s = host(mlp.kernel(x));
    const t = host(mlp.kernel(x, x));
    expect(maxRelDiff(s.ntk!.data, t.ntk!.data)).toBeLessThan(1e-12);
    expect(maxRelDiff(transposeData(s.ntk!), s.ntk!.data)).toBe(0);
  });

  it('block size does not change the result (symmetric and not)', () => {
    const ref = host(mlp.kernel(x));
    for (const blockSize of [1, 2, 4]) {
      const r = host(mlp.kernel(x, undefined, { blockSize }));
      expect(maxRelDiff(r.ntk!.data, ref.ntk!.data)).toBeLessThan(1e-12);
      const c = host(mlp.kernel(x, x2, { blockSize }));
      expect(maxRelDiff(c.nngp.data, host(mlp.kernel(x, x2)).nngp.data)).toBeLessThan(1e-12);
    }
    const imgNet = serial(Conv(4, [3, 3], { padding: 'SAME', W_std: 1.4 }), Relu(), AvgPool([2, 2], [2, 2]), Conv(4, [2, 2]), Erf());
    const full = host(imgNet.kernel(img));
    const blocked = host(imgNet.kernel(img, undefined, { blockSize: 1 }));
    expect(full.nngp.shape).toEqual([3, 3, 1, 1, 1, 1]);
    expect(maxRelDiff(blocked.ntk!.data, full.ntk!.data)).toBeLessThan(1e-12);
  });

  it('get: "nngp" skips the NTK', () => {
    const r = host(mlp.kernel(x, x2, { get: 'nngp' }));
    expect(r.ntk).toBeNull();
    expect(maxRelDiff(r.nngp.data, host(mlp.kernel(x, x2)).nngp.data)).toBe(0);
  });

  it('kernels are PSD', () => {
    const r = host(mlp.kernel(tg.normal(tg.key(4), [12, 5], 'float64')));
    for (const m of [r.nngp, r.ntk!]) {
      const { values } = symmetricEigen(m);
      expect(values[0]).toBeGreaterThan(-1e-12 * values[values.length - 1]);
    }
  });

  it('CNN without pooling: the diagonal layout equals the full one; spatial outputs have shape [N1, N2, H, W(, H, W)]', () => {
    const cnn = serial(Conv(6, [3, 3], { padding: 'SAME', W_std: 1.4, b_std: 0.1 }), Relu(), Conv(6, [2, 2], { strides: 2, dilation: 1, W_std: 1.2 }), Tanh(), Flatten(), Dense(1));
    const diag = host(cnn.kernel(img, img2, { spatial: 'diagonal' }));
    const full = host(cnn.kernel(img, img2, { spatial: 'full' }));
    const auto = host(cnn.kernel(img, img2));
    expect(maxRelDiff(diag.ntk!.data, full.ntk!.data)).toBeLessThan(1e-12);
    expect(maxRelDiff(auto.nngp.data, full.nngp.data)).toBeLessThan(1e-12);
    const body = serial(Conv(6, [3, 3], { padding: 'VALID' }), Relu());
    expect(host(body.kernel(img, img2, { spatial: 'full' })).nngp.shape).toEqual([3, 2, 2, 2, 2, 2]);
    expect(host(body.kernel(img, img2)).nngp.shape).toEqual([3, 2, 2, 2]);
  });

  it('Conv with a 1x1 filter on 1x1 images is Dense; a full-size VALID filter is Dense on the flattened image', () => {
    const o = { W_std: 1.3, b_std: 0.2 };
    const asImages = { shape: [6, 1, 1, 5], data: x.dataSync() };
    const c = host(serial(Conv(8, [1, 1], o), Relu(), Conv(1, [1, 1], o)).kernel(asImages));
    const d = host(serial(Dense(8, o), Relu(), Dense(1, o)).kernel(x));
    expect(c.nngp.shape).toEqual([6, 6, 1, 1]);
    expect(maxRelDiff(c.ntk!.data, d.ntk!.data)).toBeLessThan(1e-13);
    const whole = host(serial(Conv(8, [4, 4], o), Relu(), Flatten(), Dense(1, o)).kernel(img));
    const flat = { shape: [3, 32], data: img.dataSync() };
    const dense = host(serial(Dense(8, o), Relu(), Dense(1, o)).kernel(flat));
    expect(maxRelDiff(whole.ntk!.data, dense.ntk!.data)).toBeLessThan(1e-13);
    // The standard parameterization reads fan_in = C kh kw of the conv and C H W after Flatten.
    const so = { ...o, parameterization: 'standard' as const };
    const ws = host(serial(Conv(8, [4, 4], so), Relu(), Flatten(), Dense(1, so)).kernel(img));
    const ds = host(serial(Dense(8, so), Relu(), Dense(1, so)).kernel(flat));
    expect(maxRelDiff(ws.ntk!.data, ds.ntk!.data)).toBeLessThan(1e-13);
  });

  it('AvgPool over the whole image then Flatten equals GlobalAvgPool', () => {
    const pre = () => [Conv(5, [3, 3], { padding: 'SAME', W_std: 1.5 }), Relu(), Conv(5, [3, 3], { padding: 'SAME' })] as const;
    const a = host(serial(...pre(), AvgPool([4, 4]), Flatten(), Dense(1)).kernel(img, img2));
    const g = host(serial(...pre(), GlobalAvgPool(), Dense(1)).kernel(img, img2));
    expect(maxRelDiff(a.ntk!.data, g.ntk!.data)).toBeLessThan(1e-13);
  });
});

describe('branching rules', () => {
  const o = { W_std: 1.2, b_std: 0.1 };

  it('fanInSum adds the kernels of independent branches', () => {
    const a = Dense(8, o);
    const b = serial(Dense(8, o), Erf(), Dense(8, o));
    const sum = host(serial(fanOut(2), parallel(a, b), fanInSum()).kernel(x, x2));
    const ka = host(a.kernel(x, x2));
    const kb = host(b.kernel(x, x2));
    for (let i = 0; i < sum.nngp.data.length; i++) {
      expect(sum.nngp.data[i]).toBeCloseTo(ka.nngp.data[i] + kb.nngp.data[i], 13);
      expect(sum.ntk!.data[i]).toBeCloseTo(ka.ntk!.data[i] + kb.ntk!.data[i], 13);
    }
  });

  it('a residual block x + f(x) after a Dense: K = K_x + K_f', () => {
    const first = Dense(8, o);
    const f = serial(Relu(), Dense(8, o));
    const res = host(serial(first, fanOut(2), parallel(Identity(), f), fanInSum()).kernel(x));
    const kx = host(first.kernel(x));
    const kf = host(serial(first, f).kernel(x));
    for (let i = 0; i < res.ntk!.data.length; i++) expect(res.ntk!.data[i]).toBeCloseTo(kx.ntk!.data[i] + kf.ntk!.data[i], 13);
  });

  it('fanInConcat averages the kernels weighted by channel counts; the next Dense sees the total fan-in', () => {
    const a = Dense(3, o);
    const b = serial(Dense(5, o), Relu(), Dense(9, o));
    const cat = host(serial(fanOut(2), parallel(a, b), fanInConcat()).kernel(x, x2));
    const ka = host(a.kernel(x, x2));
    const kb = host(b.kernel(x, x2));
    for (let i = 0; i < cat.nngp.data.length; i++) expect(cat.nngp.data[i]).toBeCloseTo((3 * ka.nngp.data[i] + 9 * kb.nngp.data[i]) / 12, 13);
    const so = { W_std: 1, parameterization: 'standard' as const };
    const head = host(serial(fanOut(2), parallel(a, b), fanInConcat(), Dense(1, so)).kernel(x, x2));
    // standard Dense: Theta = fan_in K + W^2 Theta_in, with fan_in = 3 + 9.
    for (let i = 0; i < head.ntk!.data.length; i++) expect(head.ntk!.data[i]).toBeCloseTo(12 * cat.nngp.data[i] + cat.ntk!.data[i], 10);
  });

  it('a small Wide ResNet evaluates to a symmetric PSD kernel', () => {
    const wrn = wideResnet({ depth: 10, constantChannels: 8, numClasses: 1, W_std: Math.SQRT2, b_std: 0.1 });
    const r: HostKernels = host(wrn.kernel(img));
    expect(r.layout).toBe('none');
    expect(maxRelDiff(transposeData(r.ntk!), r.ntk!.data)).toBe(0);
    expect(symmetricEigen(r.ntk!).values[0]).toBeGreaterThan(0);
  });
});

describe('kernel errors name the layer', () => {
  it('a layer without a kernel rule', () => {
    const mine = { name: 'MyLayer', hyper: {}, init: Identity().init, apply: Identity().apply };
    expect(() => host(serial(Dense(3), mine).kernel(x))).toThrow(/kernel: serial: layer 1 \(MyLayer\): layer 'MyLayer' has no infinite-width kernel rule/);
  });

  it('a nonlinearity on a non-Gaussian input (network input, after another nonlinearity, after Flatten or concat)', () => {
    expect(() => host(serial(Relu(), Dense(1)).kernel(x))).toThrow(/layer 0 \(Relu\): Relu: its input is not a Gaussian process/);
    expect(() => host(serial(Dense(3), Relu(), Tanh()).kernel(x))).toThrow(/layer 2 \(Tanh\): Tanh: its input is not a Gaussian/);
    expect(() => host(serial(Conv(3, [2, 2]), Flatten(), Relu()).kernel(img))).toThrow(/Relu: its input is not a Gaussian/);
    expect(() => host(serial(fanOut(2), parallel(Dense(2), Dense(3)), fanInConcat(), Erf()).kernel(x))).toThrow(/Erf: its input is not a Gaussian/);
  });

  it('fanInSum of dependent or of several non-Gaussian branches', () => {
    expect(() => host(serial(Dense(3), fanOut(2), parallel(Identity(), Identity()), fanInSum()).kernel(x))).toThrow(/fanInSum: branches 0 and 1 are not independent/);
    expect(() => host(serial(Dense(3), fanOut(2), parallel(Relu(), Erf()), fanInSum()).kernel(x))).toThrow(/fanInSum: branches 0 and 1 are not independent/);
    expect(() => host(serial(fanOut(2), parallel(serial(Dense(3), Relu()), serial(Dense(3), Relu())), fanInSum()).kernel(x))).toThrow(/fanInSum: more than one input is non-Gaussian/);
  });

  it('layout and shape mismatches', () => {
    expect(() => host(serial(Conv(3, [2, 2]), GlobalAvgPool()).kernel(img, undefined, { spatial: 'diagonal' }))).toThrow(/GlobalAvgPool: needs the full position-pair kernel/);
    expect(() => host(serial(Conv(3, [2, 2]), AvgPool([2, 2])).kernel(img, undefined, { spatial: 'diagonal' }))).toThrow(/AvgPool\(\[2,2\]\): needs the full position-pair kernel/);
    expect(() => host(Dense(3).kernel(img))).toThrow(/Dense\(3\): needs dense activations/);
    expect(() => host(Conv(3, [2, 2]).kernel(x))).toThrow(/Conv\(3, \[2,2\]\): needs spatial activations \[N, L, C\] or \[N, H, W, C\], got dense \[N, 5\] activations/);
    expect(() => host(serial(Conv(3, [2, 2]), fanOut(2), parallel(Conv(3, [1, 1]), Conv(3, [1, 1])), fanInConcat(1)).kernel(img))).toThrow(/only concatenation along the channel axis/);
    expect(() => host(fanOut(2).kernel(x))).toThrow(/kernel\(\) needs a model with one output/);
    expect(() => host(Dense(3).kernel(x, img))).toThrow(/must share every axis but the batch axis/);
    expect(() => host(Dense(3).kernel(x, undefined, { blokSize: 3 } as never))).toThrow(/kernel: unknown option 'blokSize'/);
    expect(() => host(Dense(3).kernel({ shape: [2, 2], data: [1, 2, 3, NaN] }))).toThrow(/non-finite value/);
  });
});

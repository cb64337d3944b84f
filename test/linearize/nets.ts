/** Small float64 networks written directly with engine ops, for the NTK identities. */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';

export interface TestNet {
  name: string;
  params: any;
  apply: (p: any, x: Tensor) => Tensor;
  input: (key: tg.Key, n: number) => Tensor;
}

const normal = (k: tg.Key, shape: number[]) => tg.normal(k, shape, 'float64');

/** NTK-parameterized ReLU MLP: h = x (sigma_w/sqrt(n)) w + sigma_b beta. */
export function mlp(key: tg.Key, widths: number[], k: number): TestNet {
  const dims = [...widths, k];
  const keys = tg.split(key, dims.length);
  const params = dims.slice(1).map((d, i) => ({ w: normal(keys[i], [dims[i], d]), b: normal(tg.foldIn(keys[i], 1), [d]) }));
  const apply = (p: typeof params, x: Tensor) => {
    let h = x;
    p.forEach((layer, i) => {
      const pre = tg.add(tg.matmul(h, tg.mul(layer.w, Math.sqrt(2 / dims[i]))), tg.mul(layer.b, 0.1));
      h = i < p.length - 1 ? tg.relu(pre) : pre;
    });
    return h;
  };
  return { name: 'mlp', params, apply, input: (kk, n) => normal(kk, [n, widths[0]]) };
}

/** conv -> relu -> conv (stride 2, SAME) -> tanh -> flatten -> dense, standard parameterization. */
export function convNet(key: tg.Key, k: number): TestNet {
  const [k1, k2, k3] = tg.split(key, 3);
  const params = {
    c1: { w: tg.mul(normal(k1, [3, 3, 2, 4]), 0.4), b: tg.mul(normal(tg.foldIn(k1, 1), [4]), 0.1) },
    c2: { w: tg.mul(normal(k2, [2, 2, 4, 3]), 0.4) },
    d: { w: tg.mul(normal(k3, [2 * 2 * 3, k]), 0.3), b: tg.mul(normal(tg.foldIn(k3, 1), [k]), 0.1) },
  };
  const apply = (p: typeof params, x: Tensor) => {
    let h = tg.relu(tg.add(tg.conv2d(x, p.c1.w, { padding: 'SAME' }), p.c1.b));
    h = tg.tanh(tg.conv2d(h, p.c2.w, { strides: 2, padding: 'SAME' }));
    return tg.add(tg.matmul(tg.reshape(h, [x.shape[0], -1]), p.d.w), p.d.b);
  };
  return { name: 'conv', params, apply, input: (kk, n) => normal(kk, [n, 4, 4, 2]) };
}

/** A residual block x + conv(relu(conv(x))) followed by global average pooling and a readout. */
export function residualNet(key: tg.Key, k: number): TestNet {
  const [k1, k2, k3] = tg.split(key, 3);
  const params = {
    a: tg.mul(normal(k1, [3, 3, 3, 3]), 0.3),
    b: tg.mul(normal(k2, [3, 3, 3, 3]), 0.3),
    bias: tg.mul(normal(tg.foldIn(k2, 5), [1, 1, 1, 3]), 0.1),
    out: tg.mul(normal(k3, [3, k]), 0.5),
  };
  const apply = (p: typeof params, x: Tensor) => {
    const branch = tg.add(tg.conv2d(tg.relu(tg.conv2d(x, p.a, { padding: 'SAME' })), p.b, { padding: 'SAME' }), p.bias);
    return tg.matmul(tg.globalAvgPool(tg.erf(tg.add(x, branch))), p.out);
  };
  return { name: 'residual', params, apply, input: (kk, n) => normal(kk, [n, 3, 3, 3]) };
}

/** A weight used twice and an elementwise parameter: no structured rule applies, so the fallback runs. */
export function sharedNet(key: tg.Key, k: number): TestNet {
  const [k1, k2] = tg.split(key);
  const params = { w: tg.mul(normal(k1, [3, 3]), 0.5), gain: normal(k2, [3]), out: normal(tg.foldIn(k2, 3), [3, k]) };
  const apply = (p: typeof params, x: Tensor) => {
    const h = tg.tanh(tg.matmul(tg.tanh(tg.matmul(x, p.w)), p.w));
    return tg.matmul(tg.mul(h, p.gain), p.out);
  };
  return { name: 'shared', params, apply, input: (kk, n) => normal(kk, [n, 3]) };
}

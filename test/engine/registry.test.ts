/**
 * The primitive registry is the one list: every primitive has a kernel on every backend and a
 * row in the law table (test/engine/cases.ts) whose `run` really binds it; no kernel table or
 * law row names a primitive that does not exist.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { PRIMITIVES } from '../../engine/index.ts';
import { cpuKernels } from '../../kernels/cpu/backend.ts';
import { KERNELS as webgpuKernels } from '../../kernels/webgpu/plan.ts';
import { OPS } from './cases.ts';
import { toTensor } from './util.ts';

const names = PRIMITIVES.map((p) => p.name);
const rowPrimitive = (spec: (typeof OPS)[number]) => spec.primitive ?? spec.name;

describe('the primitive registry', () => {
  it('lists each primitive once, by a unique name', () => {
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(PRIMITIVES).size).toBe(PRIMITIVES.length);
  });

  it('every primitive has a CPU kernel and a WebGPU kernel, and the tables hold nothing else', () => {
    for (const table of [cpuKernels, webgpuKernels] as Record<string, unknown>[]) {
      expect(Object.keys(table).sort()).toEqual([...names].sort());
      for (const name of names) expect(table[name], name).toBeDefined();
    }
  });

  it('every primitive has a row in the law table, and every row names a primitive', () => {
    const covered = new Set(OPS.map(rowPrimitive));
    expect(names.filter((n) => !covered.has(n))).toEqual([]);
    expect([...covered].filter((n) => !names.includes(n as never))).toEqual([]);
  });

  it.each(OPS.map((s) => [s.name, s] as const))('law row %s binds its primitive', (_name, spec) => {
    const [{ inputs, params }] = fc.sample(spec.gen, { numRuns: 1, seed: 7 });
    tg.tidy(() => {
      const xs = inputs.map((a) => toTensor(a));
      const graph = tg.traceGraph((...args: tg.Tensor[]) => spec.run(args, params), xs, xs.map((_, i) => i));
      try {
        const bound = graph.nodes().flatMap((t) => (t.node ? [t.node.primitive.name] : []));
        expect(bound).toContain(rowPrimitive(spec));
      } finally {
        graph.dispose();
      }
    });
  });
});

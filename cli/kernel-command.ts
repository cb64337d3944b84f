/**
 * `tangentgrad kernel <action>`: kernel stores in blocks (scale/). Actions:
 *   init     create a store from a model spec and .npy inputs
 *   run      fill it: local worker threads (default) or BullMQ (--runner bullmq --redis URL)
 *   worker   a BullMQ worker pulling block jobs (any machine that mounts the store's folder)
 *   index    one array-job task (JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID, or --index)
 *   status   blocks done / missing (each chunk checked against its checksum)
 *   export   one kernel to .npy
 *   predict  MSE predictions from stored kernels (t = infinity by CG, finite t by Lanczos)
 * Light on purpose: the engine and the runners are imported when an action runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { choiceFlag, intFlag, numberFlag, parseFlags, usage, type FlagSpec } from './args.ts';

export const ACTIONS: Record<string, { summary: string; flags: FlagSpec[] }> = {
  init: {
    summary: 'create a kernel store: model spec (JSON file or text), inputs as .npy [N, ...] (float64 or float32)',
    flags: [
      { name: 'store', type: 'string', help: 'store folder to create (e.g. kernel.zarr)' },
      { name: 'model', type: 'string', help: 'model spec: a .json file or JSON text, e.g. \'[{"layer":"Dense","out":512,"W_std":1.5},"Relu",{"layer":"Dense","out":1,"W_std":1.5}]\'' },
      { name: 'x1', type: 'string', help: 'first dataset (.npy)' },
      { name: 'x2', type: 'string', help: 'second dataset (.npy); omitted: K(x1, x1), upper triangle only' },
      { name: 'mode', type: 'string', help: 'analytic (infinite width) or empirical (NTK at the seed\'s parameters)', default: 'analytic' },
      { name: 'kernels', type: 'string', help: 'nngp,ntk / nngp / ntk (empirical: ntk)' },
      { name: 'block', type: 'string', help: 'rows and columns per block (= per Zarr chunk)', default: '1000' },
      { name: 'dtype', type: 'string', help: 'float64 or float32', default: 'float64' },
      { name: 'seed', type: 'string', help: 'seed of the empirical parameters', default: '0' },
      { name: 'params', type: 'string', help: 'empirical: the parameters instead, .npy [P] (every leaf of model.init flattened, in tree order)' },
    ],
  },
  run: {
    summary: 'compute the missing blocks of a store (resumes: verified blocks are skipped)',
    flags: [
      { name: 'store', type: 'string', help: 'the store' },
      { name: 'runner', type: 'string', help: 'local (worker threads) or bullmq', default: 'local' },
      { name: 'workers', type: 'string', help: 'local: worker threads (0: this thread); default the cores present' },
      { name: 'max-blocks', type: 'string', help: 'local: stop after this many blocks' },
      { name: 'redis', type: 'string', help: 'bullmq: redis://host:port[/db]' },
      { name: 'queue', type: 'string', help: 'bullmq: queue name', default: 'tangentgrad-kernel' },
      { name: 'attempts', type: 'string', help: 'bullmq: tries per block', default: '3' },
      { name: 'no-progress', type: 'boolean', help: 'no progress line' },
    ],
  },
  worker: {
    summary: 'a BullMQ worker: pulls block jobs of any store until stopped (SIGTERM / SIGINT finish the current block)',
    flags: [
      { name: 'redis', type: 'string', help: 'redis://host:port[/db]' },
      { name: 'queue', type: 'string', help: 'queue name', default: 'tangentgrad-kernel' },
      { name: 'concurrency', type: 'string', help: 'blocks at once (one thread each)', default: '1' },
      { name: 'lock-ms', type: 'string', help: 'a job lock not renewed this long means the worker died', default: '30000' },
      { name: 'stalled-ms', type: 'string', help: 'how often stalled jobs are looked for', default: '15000' },
      { name: 'idle-exit-ms', type: 'string', help: 'exit once the queue was empty this long (default: never)' },
      { name: 'name', type: 'string', help: 'worker name recorded on its jobs (default host:pid)' },
    ],
  },
  index: {
    summary: 'compute the blocks of one array-job task: blocks index, index + count, ...',
    flags: [
      { name: 'store', type: 'string', help: 'the store' },
      { name: 'index', type: 'string', help: 'task index (default JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)' },
      { name: 'count', type: 'string', help: 'tasks in the array (default SLURM_ARRAY_TASK_COUNT, else one per block)' },
      { name: 'no-progress', type: 'boolean', help: 'no progress line' },
    ],
  },
  status: {
    summary: 'the store\'s metadata, and its blocks done / missing (checksums verified)',
    flags: [{ name: 'store', type: 'string', help: 'the store' }],
  },
  export: {
    summary: 'write one kernel (the whole matrix, lower triangle mirrored) to .npy, strip by strip',
    flags: [
      { name: 'store', type: 'string', help: 'the store' },
      { name: 'kernel', type: 'string', help: 'nngp or ntk', default: 'ntk' },
      { name: 'out', type: 'string', help: 'output .npy file' },
    ],
  },
  predict: {
    summary: 'MSE mean predictions from stored kernels, one row strip in memory at a time; writes [M, K] .npy',
    flags: [
      { name: 'train', type: 'string', help: 'store of K(X, X) (one dataset: the training inputs)' },
      { name: 'test', type: 'string', help: 'store of K(x, X) (x1 = test inputs, x2 = training inputs)' },
      { name: 'y', type: 'string', help: 'training targets .npy [N, K] (or [N])' },
      { name: 'kernel', type: 'string', help: 'ntk (gradient descent) or nngp (readout only / Bayesian)', default: 'ntk' },
      { name: 't', type: 'string', help: "training time, or 'inf'", default: 'inf' },
      { name: 'lr', type: 'string', help: 'learning rate eta (finite t)' },
      { name: 'ridge', type: 'string', help: 'added to the diagonal of K(X, X)', default: '0' },
      { name: 'out', type: 'string', help: 'output .npy of the test predictions (train predictions without --test)' },
    ],
  },
};

function help(): string {
  const names = Object.keys(ACTIONS);
  return [
    'usage: tangentgrad kernel <action> [flags]',
    '',
    'NNGP / NTK kernels in blocks in a Zarr v3 store: resumable, on local worker threads, BullMQ workers or array jobs.',
    '',
    'actions:',
    ...names.map((n) => `  ${n.padEnd(8)}  ${ACTIONS[n].summary}`),
    '',
    "'tangentgrad kernel <action> --help' lists an action's flags.",
  ].join('\n');
}

function required(v: Record<string, string | boolean>, name: string, action: string): string {
  const x = v[name];
  if (typeof x !== 'string' || x === '') throw new Error(`kernel ${action}: --${name} is required (see --help)`);
  return x;
}

export async function kernelCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') return void console.log(help());
  const spec = ACTIONS[action];
  if (!spec) throw new Error(`kernel: unknown action '${action}' (${Object.keys(ACTIONS).join(', ')}; try --help)`);
  const v = parseFlags(`kernel ${action}`, rest, spec.flags);
  if (v.help) return void console.log(usage(`kernel ${action}`, spec.summary, spec.flags));
  const scale = await import('../scale/index.ts');
  const progress = v['no-progress'] !== true;
  const say = (s: string) => console.log(s);
  switch (action) {
    case 'init': {
      const modelRaw = required(v, 'model', action);
      const model = scale.parseModelSpec(existsSync(modelRaw) ? readFileSync(modelRaw, 'utf8') : modelRaw);
      const x1 = scale.readNpy(required(v, 'x1', action));
      const x2 = typeof v.x2 === 'string' ? scale.readNpy(v.x2) : undefined;
      const mode = choiceFlag('mode', v.mode, ['analytic', 'empirical'] as const);
      const kernels = typeof v.kernels === 'string' ? (v.kernels.split(',').map((s) => s.trim()) as ('nngp' | 'ntk')[]) : undefined;
      const store = await scale.createKernelStore(required(v, 'store', action), {
        model, x1, x2, mode, kernels,
        blockSize: intFlag('block', v.block, 1, 16384),
        dtype: choiceFlag('dtype', v.dtype, ['float64', 'float32'] as const),
        seed: intFlag('seed', v.seed, 0),
        params: typeof v.params === 'string' ? scale.readNpy(v.params).data : undefined,
      });
      const m = store.meta;
      say(`created ${store.root}: ${m.mode} ${m.kernels.join(' + ')} [${m.n1} x ${m.n2}]${m.symmetric ? ' (one dataset: upper triangle)' : ''}, blocks of ${m.blockSize}: ${store.blockCount} block tasks`);
      return;
    }
    case 'run': {
      const root = required(v, 'store', action);
      const runner = choiceFlag('runner', v.runner, ['local', 'bullmq'] as const);
      const s = runner === 'local'
        ? await scale.runLocal(root, {
          workers: typeof v.workers === 'string' ? intFlag('workers', v.workers, 0, 256) : undefined,
          maxBlocks: typeof v['max-blocks'] === 'string' ? intFlag('max-blocks', v['max-blocks'], 1) : undefined,
          progress,
        })
        : await scale.runBullmq(root, { redis: required(v, 'redis', action), queue: v.queue as string, attempts: intFlag('attempts', v.attempts, 1, 100), progress });
      say(`${root}: ${s.computed} blocks computed, ${s.skipped} already there, of ${s.blocks}; ${s.entries} entries in ${s.seconds.toFixed(1)} s`);
      return;
    }
    case 'worker': {
      const handle = await scale.startBullmqWorker({
        redis: required(v, 'redis', action),
        queue: v.queue as string,
        concurrency: intFlag('concurrency', v.concurrency, 1, 256),
        lockMs: intFlag('lock-ms', v['lock-ms'], 100),
        stalledMs: intFlag('stalled-ms', v['stalled-ms'], 100),
        idleExitMs: typeof v['idle-exit-ms'] === 'string' ? intFlag('idle-exit-ms', v['idle-exit-ms'], 0) : undefined,
        name: typeof v.name === 'string' ? v.name : undefined,
        onBlockDone: (d, r) => console.error(`block ${d.index} of ${d.store}: ${r.written ? 'written' : 'already there'}`),
      });
      const stop = () => void handle.close();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      console.error(`kernel worker ${handle.worker.name} on queue ${v.queue as string}: waiting for block jobs`);
      await handle.closed;
      return;
    }
    case 'index': {
      const s = await scale.runIndexTask(required(v, 'store', action), {
        index: typeof v.index === 'string' ? intFlag('index', v.index, 0) : undefined,
        count: typeof v.count === 'string' ? intFlag('count', v.count, 1) : undefined,
        progress,
      });
      say(`task ${s.index} of ${s.count}: ${s.computed} blocks computed, ${s.skipped} already there, of ${s.blocks}`);
      return;
    }
    case 'status': {
      const store = scale.KernelStore.open(required(v, 'store', action));
      const m = store.meta;
      const missing = store.missingBlocks();
      say(JSON.stringify({ ...m, blocks: store.blockCount, done: store.blockCount - missing.length, missing: missing.length }, null, 2));
      return;
    }
    case 'export': {
      const kernel = choiceFlag('kernel', v.kernel, ['nngp', 'ntk'] as const);
      const out = required(v, 'out', action);
      await scale.exportNpy(required(v, 'store', action), kernel, out);
      say(`wrote ${out}`);
      return;
    }
    case 'predict': {
      const y = scale.readNpy(required(v, 'y', action));
      if (y.shape.length !== 1 && y.shape.length !== 2) throw new Error(`kernel predict: --y must be [N] or [N, K], got [${y.shape.join(',')}]`);
      const shape: [number, number] = [y.shape[0], y.shape[1] ?? 1];
      const t = v.t === 'inf' || v.t === 'infinity' ? Infinity : numberFlag('t', v.t, false);
      const r = scale.predictStored({
        train: required(v, 'train', action), test: typeof v.test === 'string' ? v.test : undefined,
        y: { shape, data: y.data }, kernel: choiceFlag('kernel', v.kernel, ['nngp', 'ntk'] as const), t,
        lr: typeof v.lr === 'string' ? numberFlag('lr', v.lr) : undefined, ridge: numberFlag('ridge', v.ridge, false),
      });
      const out = required(v, 'out', action);
      const values = r.test ?? r.train;
      async function* one() {
        yield values;
      }
      await scale.writeNpy(out, [values.length / shape[1], shape[1]], 'float64', one());
      say(`wrote ${out}: ${r.test ? 'test' : 'train'} predictions [${values.length / shape[1]}, ${shape[1]}] after ${r.iterations} passes over K (residual ${r.residual.toExponential(2)})`);
      return;
    }
  }
}

/**
 * Benchmarks, side by side with peers in the same run.
 *   npm run bench -- <suite> [--json] [--quick] [--backend cpu[,webgpu]] [--only <case substring>]
 * Suites: cpu (matmul, conv2d vs tfjs-cpu/wasm), webgpu (the same on WebGPU vs tfjs-webgpu), ntk
 * (empirical NTK, three methods, vs jax-js and tfjs), train (one SGD step of an MLP and a CNN),
 * scale (a kernel store in blocks: local worker threads and BullMQ workers vs one process).
 * --json prints one JSON object per case and peer on stdout, keys
 * case, size, backend, threads, ours_ms, peer, peer_ms, ratio (= peer_ms / ours_ms); everything else
 * goes to stderr. --threads N sets our CPU backend's threads (default: the cores present). Exit status 1 when any of our results fails its check.
 */
import { configureCpu } from '../kernels/cpu/config.ts';
import { log, Report, type BenchOptions, type Suite } from './harness.ts';
import { cpuSuite, webgpuSuite } from './cpu.ts';
import { ntkSuite } from './ntk.ts';
import { trainSuite } from './train.ts';
import { scaleSuite } from './scale.ts';

const SUITES: Suite[] = [cpuSuite, webgpuSuite, ntkSuite, trainSuite, scaleSuite];

function usage(): string {
  return [
    'usage: npm run bench -- <suite ...|all> [--json] [--quick] [--backend cpu[,webgpu]] [--only <case substring>] [--threads N]',
    ...SUITES.map((s) => `  ${s.name.padEnd(6)} ${s.description}`),
  ].join('\n');
}

function parse(argv: string[]): { suites: Suite[]; opts: BenchOptions } {
  const opts: BenchOptions = { json: false, quick: false, backends: ['cpu'] };
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (a === '--quick') opts.quick = true;
    else if (a === '--backend' || a.startsWith('--backend=')) {
      const v = a === '--backend' ? argv[++i] : a.slice('--backend='.length);
      if (!v) throw new Error('--backend needs a value, e.g. --backend cpu,webgpu');
      opts.backends = v.split(',').filter(Boolean);
    } else if (a === '--only' || a.startsWith('--only=')) {
      const v = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (!v) throw new Error('--only needs a case name or part of one, e.g. --only matmul');
      opts.only = v;
    } else if (a === '--threads' || a.startsWith('--threads=')) {
      const v = Number(a === '--threads' ? argv[++i] : a.slice('--threads='.length));
      if (!Number.isInteger(v) || v < 1) throw new Error('--threads needs a positive integer, e.g. --threads 2');
      opts.threads = v;
    } else if (a === '--help' || a === '-h') {
      console.error(usage());
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`);
    else names.push(a);
  }
  if (names.length === 0) throw new Error(`no suite given\n${usage()}`);
  const suites = names.includes('all') ? SUITES : names.map((n) => {
    const s = SUITES.find((x) => x.name === n);
    if (!s) throw new Error(`unknown suite '${n}'\n${usage()}`);
    return s;
  });
  return { suites, opts };
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const { suites, opts } = parsed;
  if (opts.json) {
    // stdout carries only the JSON lines: peers print banners with console.* (tfjs greets Node users).
    const toErr = (...args: unknown[]) => log(...args);
    console.log = toErr;
    console.info = toErr;
    console.warn = toErr;
    console.debug = toErr;
  }
  // Start the CPU backend's worker threads before anything is timed.
  const cpu = await configureCpu(opts.threads === undefined ? {} : { threads: opts.threads });
  log(`bench: ${suites.map((s) => s.name).join(', ')}; backends ${opts.backends.join(', ')}; ${opts.quick ? 'quick' : 'full'}; Node ${process.version}`);
  log(`cpu backend: ${cpu.wasm ? 'Wasm SIMD' : 'JavaScript'} kernels, ${cpu.activeThreads} thread(s)${cpu.fma ? ', relaxed-SIMD FMA' : ''}${cpu.notes.length ? ` (${cpu.notes.join('; ')})` : ''}`);
  let failures = 0;
  for (const suite of suites) {
    const report = new Report(opts);
    await suite.run(opts, report);
    report.printTable(`## ${suite.name}`);
    failures += report.failures;
  }
  if (failures > 0) {
    log(`${failures} of our results failed their checks`);
    process.exitCode = 1;
  }
}

await main();

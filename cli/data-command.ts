/** The `data` subcommand: fetches a dataset into the cache folder (today: CIFAR-10). */
import { parseFlags, usage, type FlagSpec } from './args.ts';
import { progressReporter } from './progress.ts';

export const DATA_SUMMARY =
  "Downloads a dataset once into a cache folder. 'cifar10': the official CIFAR-10 binary release\n(163 MiB, MD5-checked, an interrupted download resumes), extracted to data_batch_1..5.bin and\ntest_batch.bin, which `tangentgrad study --dataset cifar2` reads.";

export const DATA_FLAGS: FlagSpec[] = [
  { name: 'data-dir', type: 'string', help: 'folder for the files (default: $XDG_CACHE_HOME/tangentgrad/cifar10 or ~/.cache/tangentgrad/cifar10)' },
  { name: 'url', type: 'string', help: 'archive URL (default: $TANGENTGRAD_CIFAR10_URL, else the official one)' },
  { name: 'md5', type: 'string', help: 'expected MD5 of the archive (default: $TANGENTGRAD_CIFAR10_MD5, else the official one)' },
  { name: 'no-progress', type: 'boolean', help: 'no progress output' },
];

const DATASETS = ['cifar10'];

/** @example await dataCommand(['cifar10', '--data-dir', '/tmp/cifar']); */
export async function dataCommand(argv: string[]): Promise<void> {
  const [dataset, ...rest] = argv;
  const help = () => console.log(usage('data cifar10', DATA_SUMMARY, DATA_FLAGS));
  if (dataset === undefined || dataset === '--help' || dataset === '-h') return help();
  if (!DATASETS.includes(dataset)) throw new Error(`data: unknown dataset '${dataset}' (datasets: ${DATASETS.join(', ')}; try tangentgrad data --help)`);
  const v = parseFlags('data cifar10', rest, DATA_FLAGS);
  if (v.help) return help();
  const { downloadCifar10 } = await import('../data/download.ts');
  const progress = progressReporter(!v['no-progress']);
  let started = false;
  const result = await downloadCifar10({
    ...(typeof v['data-dir'] === 'string' ? { dir: v['data-dir'] } : {}),
    ...(typeof v.url === 'string' ? { url: v.url } : {}),
    ...(typeof v.md5 === 'string' ? { md5: v.md5 } : {}),
    onProgress: (received, total) => {
      if (!started) progress.start('download', total ?? 0, 'B');
      started = true;
      progress.update(received);
    },
    log: (line) => {
      if (started) progress.stop();
      started = false;
      console.error(line);
    },
  });
  progress.stop();
  console.log(result.downloaded ? `CIFAR-10 is in ${result.dir} (${result.files.length} files)` : `CIFAR-10 is already in ${result.dir}`);
}

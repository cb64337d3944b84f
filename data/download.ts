/**
 * Downloads the official CIFAR-10 binary release once into a cache folder and extracts its six
 * batch files there (`data_batch_1.bin`..`data_batch_5.bin`, `test_batch.bin`), the layout
 * `readCifar10Dir` reads. An interrupted download leaves `<archive>.part` and the next call resumes
 * it with an HTTP Range request; the archive's MD5 is checked before anything is extracted; a
 * marker file records a finished extraction so later calls do no network work at all.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CIFAR10_RECORD_BYTES } from './cifar10.ts';
import { readTar } from './tar.ts';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
const ARCHIVE = 'cifar-10-binary.tar.gz';
const MARKER = '.tangentgrad-cifar10';
const BATCHES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];

/**
 * `$XDG_CACHE_HOME/tangentgrad`, else `~/.cache/tangentgrad`.
 *
 * @example defaultCacheDir({ XDG_CACHE_HOME: '/tmp/c' }) // '/tmp/c/tangentgrad'
 */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
  return xdg && path.isAbsolute(xdg) ? path.join(xdg, 'tangentgrad') : path.join(homedir(), '.cache', 'tangentgrad');
}

/** Where `tangentgrad data cifar10` puts the batches by default: `<cache>/cifar10`. */
export function cifar10CacheDir(env: Record<string, string | undefined> = process.env): string {
  return path.join(defaultCacheDir(env), 'cifar10');
}

export interface DownloadOptions {
  /** Folder for the archive and the extracted batches. Default {@link cifar10CacheDir}. */
  dir?: string;
  /** Default: `$TANGENTGRAD_CIFAR10_URL`, else the official {@link CIFAR10_URL}. */
  url?: string;
  /** Expected MD5 of the archive (hex). Default: `$TANGENTGRAD_CIFAR10_MD5`, else {@link CIFAR10_MD5}. */
  md5?: string;
  /** Called as bytes arrive: bytes on disk so far (resumed ones included) and the total when known. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** One line per notable event (resuming, verifying, extracting). */
  log?: (line: string) => void;
}

export interface DownloadResult {
  dir: string;
  /** The extracted batch files, absolute paths. */
  files: string[];
  /** False when the batches were already there (nothing was fetched). */
  downloaded: boolean;
  /** Bytes fetched by this call (a resumed download fetches only the rest). */
  bytesFetched: number;
  /** True when this call continued an earlier partial download with a Range request. */
  resumed: boolean;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function md5Of(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Total size from a 206's `Content-Range: bytes a-b/total`, or a 200's `Content-Length`. */
function totalOf(res: Response, start: number): number | undefined {
  const range = res.headers.get('content-range');
  const m = range && /\/(\d+)\s*$/.exec(range);
  if (m) return Number(m[1]);
  const len = res.headers.get('content-length');
  return len !== null && /^\d+$/.test(len) ? start + Number(len) : undefined;
}

/** Fetches `url` into `part`, continuing from its current size when the server honours Range. */
async function fetchInto(url: string, part: string, o: DownloadOptions): Promise<{ fetched: number; resumed: boolean }> {
  const have = (await sizeOf(part)) ?? 0;
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  let res: Response;
  try {
    res = await fetch(url, { headers });
  } catch (e) {
    throw new Error(`downloadCifar10: cannot reach ${url}: ${(e as Error).cause ?? (e as Error).message}`, { cause: e });
  }
  if (res.status === 416 && have > 0) {
    // Nothing left to fetch: the partial file may already be complete; the checksum decides.
    await res.body?.cancel();
    return { fetched: 0, resumed: true };
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    throw new Error(`downloadCifar10: ${url} answered HTTP ${res.status} ${res.statusText}`);
  }
  const resumed = res.status === 206;
  if (resumed) {
    const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
    if (!start || Number(start[1]) !== have) {
      await res.body?.cancel();
      throw new Error(`downloadCifar10: asked ${url} for bytes from ${have}, got Content-Range '${res.headers.get('content-range')}'`);
    }
    o.log?.(`resuming the download at ${(have / 2 ** 20).toFixed(1)} MiB`);
  }
  // A 200 to a Range request means the server sends the whole file: start over.
  const offset = resumed ? have : 0;
  const total = totalOf(res, offset);
  const file = await open(part, resumed ? 'a' : 'w');
  let received = offset;
  try {
    o.onProgress?.(received, total);
    const reader = res.body?.getReader();
    for (let chunk = await reader?.read(); chunk && !chunk.done; chunk = await reader!.read()) {
      await file.write(chunk.value);
      received += chunk.value.length;
      o.onProgress?.(received, total);
    }
  } catch (e) {
    throw new Error(
      `downloadCifar10: the download from ${url} was interrupted at ${received} of ${total ?? '?'} bytes (${(e as Error).message}); ` +
        `run the same command again to resume it`,
      { cause: e },
    );
  } finally {
    await file.close();
  }
  if (total !== undefined && received !== total) {
    throw new Error(`downloadCifar10: the connection to ${url} closed at ${received} of ${total} bytes; run the same command again to resume it`);
  }
  return { fetched: received - offset, resumed };
}

/** Writes the six batch files of the archive into `dir` (each to a temporary name, then renamed). */
async function extract(archive: string, dir: string): Promise<string[]> {
  let tar: Uint8Array;
  try {
    tar = gunzipSync(await readFile(archive));
  } catch (e) {
    throw new Error(`downloadCifar10: ${archive} is not a gzip archive (${(e as Error).message})`, { cause: e });
  }
  const byName = new Map(readTar(tar).files.map((f) => [path.posix.basename(f.name), f]));
  const missing = BATCHES.filter((b) => !byName.has(b));
  if (missing.length > 0) throw new Error(`downloadCifar10: ${archive} lacks ${missing.join(', ')}`);
  const files: string[] = [];
  for (const name of BATCHES) {
    const { data } = byName.get(name)!;
    if (data.length === 0 || data.length % CIFAR10_RECORD_BYTES !== 0) {
      throw new Error(`downloadCifar10: ${name} in ${archive} has ${data.length} bytes, not a whole number of ${CIFAR10_RECORD_BYTES}-byte records`);
    }
    const target = path.join(dir, name);
    await writeFile(`${target}.tmp`, data);
    await rename(`${target}.tmp`, target);
    files.push(target);
  }
  return files;
}

/**
 * Downloads (once) and extracts CIFAR-10. Returns at once, without network, when a previous call
 * finished extracting the archive with the same MD5 into the same folder.
 *
 * @example
 * const { dir } = await downloadCifar10({ onProgress: (got, total) => console.error(got, total) });
 * const { train, test } = await loadCifar10Dir(dir, { trainSize: 1000, testSize: 1000 });
 */
export async function downloadCifar10(options: DownloadOptions = {}): Promise<DownloadResult> {
  const dir = path.resolve(options.dir ?? cifar10CacheDir());
  const url = options.url ?? process.env.TANGENTGRAD_CIFAR10_URL ?? CIFAR10_URL;
  const md5 = (options.md5 ?? process.env.TANGENTGRAD_CIFAR10_MD5 ?? CIFAR10_MD5).toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(md5)) throw new Error(`downloadCifar10: md5 must be 32 hex digits, got '${md5}'`);
  await mkdir(dir, { recursive: true });
  const files = BATCHES.map((b) => path.join(dir, b));
  const marker = path.join(dir, MARKER);
  const done = await readFile(marker, 'utf8').catch(() => '');
  if (done.trim() === md5 && (await Promise.all(files.map(sizeOf))).every((s) => s !== undefined)) {
    return { dir, files, downloaded: false, bytesFetched: 0, resumed: false };
  }
  const archive = path.join(dir, ARCHIVE);
  const part = `${archive}.part`;
  let bytesFetched = 0;
  let resumed = false;
  // An archive left by an earlier call that stopped after the download but before extracting is
  // reused when its checksum is right.
  if ((await sizeOf(archive)) !== undefined && (await md5Of(archive)) !== md5) await rm(archive);
  if ((await sizeOf(archive)) === undefined) {
    ({ fetched: bytesFetched, resumed } = await fetchInto(url, part, options));
    options.log?.('verifying the MD5 checksum');
    const got = await md5Of(part);
    if (got !== md5) {
      await rm(part, { force: true });
      throw new Error(`downloadCifar10: checksum mismatch for ${url}: expected md5 ${md5}, got ${got}; the download was deleted, run again to fetch it afresh`);
    }
    await rename(part, archive);
  }
  options.log?.(`extracting into ${dir}`);
  const extracted = await extract(archive, dir);
  await writeFile(marker, `${md5}\n`);
  // The batches are all the study needs; the 163 MiB archive would only double the cache.
  await rm(archive, { force: true });
  return { dir, files: extracted, downloaded: true, bytesFetched, resumed };
}

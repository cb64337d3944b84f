/**
 * `downloadCifar10` against a loopback HTTP server (127.0.0.1, random port) serving an archive
 * built here from the committed fixture records, in the official layout: a full download, an
 * interrupted one resumed with a Range request, a wrong checksum refused, the cache reused, and
 * the tar reader's refusals. No test reaches the internet.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar } from '../../data/tar.ts';
import { defaultCacheDir, downloadCifar10, loadCifar10Dir, readCifar10Dir } from '../../data/node.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/cifar10', import.meta.url));
const BATCHES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];

/** A ustar archive (regular files and directories), written independently of the reader under test. */
function tar(entries: { name: string; data?: Uint8Array; type?: string }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(new TextEncoder().encode(s), at);
    const size = e.data?.length ?? 0;
    put(e.name, 0);
    put('0000644\0', 100);
    put('0000000\0', 108);
    put('0000000\0', 116);
    put(size.toString(8).padStart(11, '0') + '\0', 124);
    put('00000000000\0', 136);
    put('        ', 148);
    put(e.type ?? '0', 156);
    put('ustar\0' + '00', 257);
    const sum = h.reduce((a, b) => a + b, 0);
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h);
    if (e.data) {
      const padded = new Uint8Array(Math.ceil(size / 512) * 512);
      padded.set(e.data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

let archive: Buffer;
let md5: string;
let server: Server;
let base: string;
let tmp: string;
/** Requests seen by the server, and how the next ones are answered. */
const seen: { range: string | undefined }[] = [];
let dropNextAt: number | undefined;

beforeAll(async () => {
  const files = await Promise.all(BATCHES.map(async (b) => ({ name: `cifar-10-batches-bin/${b}`, data: new Uint8Array(await readFile(path.join(FIXTURE, b))) })));
  archive = gzipSync(tar([{ name: 'cifar-10-batches-bin/', type: '5' }, ...files, { name: 'cifar-10-batches-bin/batches.meta.txt', data: new TextEncoder().encode('airplane\n') }]));
  md5 = createHash('md5').update(archive).digest('hex');
  tmp = await mkdtemp(path.join(tmpdir(), 'tangentgrad-download-'));
  server = createServer((req: IncomingMessage, res) => {
    seen.push({ range: req.headers.range });
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const body = archive.subarray(start);
    res.writeHead(m ? 206 : 200, {
      'content-length': body.length,
      ...(m ? { 'content-range': `bytes ${start}-${archive.length - 1}/${archive.length}` } : {}),
    });
    if (dropNextAt !== undefined) {
      const cut = dropNextAt;
      dropNextAt = undefined;
      // Send part of the body, then drop the connection mid-way.
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(tmp, { recursive: true, force: true });
});

describe('downloadCifar10', () => {
  it('downloads, verifies, extracts the six batches (they load), and later calls use the cache', async () => {
    const dir = path.join(tmp, 'full');
    seen.length = 0;
    const progress: number[] = [];
    const r = await downloadCifar10({ dir, url: `${base}/cifar-10-binary.tar.gz`, md5, onProgress: (got) => progress.push(got) });
    expect(r).toMatchObject({ downloaded: true, resumed: false, bytesFetched: archive.length });
    expect(seen).toEqual([{ range: undefined }]);
    expect(progress[progress.length - 1]).toBe(archive.length);
    for (const b of BATCHES) expect(Buffer.compare(await readFile(path.join(dir, b)), await readFile(path.join(FIXTURE, b)))).toBe(0);
    // Only the batches and the marker remain (the archive is deleted once extracted).
    expect((await readdir(dir)).sort()).toEqual(['.tangentgrad-cifar10', ...BATCHES].sort());
    const loaded = await readCifar10Dir(dir);
    expect([loaded.train.count, loaded.test.count]).toEqual([320, 100]);
    const split = await loadCifar10Dir(dir, { classes: ['airplane', 'horse'], trainSize: 8, testSize: 4 });
    expect(split.train.yShape).toEqual([8, 1]);
    const again = await downloadCifar10({ dir, url: `${base}/cifar-10-binary.tar.gz`, md5 });
    expect(again.downloaded).toBe(false);
    expect(seen).toHaveLength(1);
  });

  it('an interrupted download fails with a clear error; the next run sends Range and completes', async () => {
    const dir = path.join(tmp, 'resume');
    seen.length = 0;
    const cut = Math.floor(archive.length / 3);
    dropNextAt = cut;
    await expect(downloadCifar10({ dir, url: `${base}/a.tar.gz`, md5 })).rejects.toThrow(/downloadCifar10: .*(interrupted|closed) at \d+ of \d+ bytes.*run the same command again to resume it/);
    const partial = (await readFile(path.join(dir, 'cifar-10-binary.tar.gz.part'))).length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(archive.length);
    const r = await downloadCifar10({ dir, url: `${base}/a.tar.gz`, md5 });
    expect(seen.map((s) => s.range)).toEqual([undefined, `bytes=${partial}-`]);
    expect(r).toMatchObject({ downloaded: true, resumed: true, bytesFetched: archive.length - partial });
    expect((await readCifar10Dir(dir)).test.count).toBe(100);
  });

  it('a wrong checksum is refused with a clear error, the download deleted and nothing extracted', async () => {
    const dir = path.join(tmp, 'bad-md5');
    const wrong = '0'.repeat(32);
    await expect(downloadCifar10({ dir, url: `${base}/a.tar.gz`, md5: wrong })).rejects.toThrow(
      `downloadCifar10: checksum mismatch for ${base}/a.tar.gz: expected md5 ${wrong}, got ${md5}; the download was deleted, run again to fetch it afresh`,
    );
    expect(await readdir(dir)).toEqual([]);
    await expect(downloadCifar10({ dir, url: `${base}/a.tar.gz`, md5: 'xyz' })).rejects.toThrow("downloadCifar10: md5 must be 32 hex digits, got 'xyz'");
  });

  it('an unreachable server or an HTTP error is one clear line', async () => {
    const dir = path.join(tmp, 'unreachable');
    await expect(downloadCifar10({ dir, url: 'http://127.0.0.1:9/x', md5 })).rejects.toThrow(/downloadCifar10: cannot reach http:\/\/127\.0\.0\.1:9\/x/);
  });

  it('the cache folder follows XDG_CACHE_HOME (absolute only), else ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/tangentgrad');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative' })).toMatch(/\.cache\/tangentgrad$/);
    expect(defaultCacheDir({})).toMatch(/\.cache\/tangentgrad$/);
  });

  it("the CLI: 'tangentgrad data cifar10 --data-dir DIR' with the URL and MD5 from the environment", async () => {
    const dir = path.join(tmp, 'cli');
    const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'data', 'cifar10', '--data-dir', dir], {
      cwd: repoRoot, env: { ...process.env, TANGENTGRAD_CIFAR10_URL: `${base}/c.tar.gz`, TANGENTGRAD_CIFAR10_MD5: md5 },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(stdout).toBe(`CIFAR-10 is in ${dir} (6 files)\n`);
    // Not a terminal: the progress comes as lines (the final one at least).
    expect(stderr).toMatch(/^download: 100% .* MiB\/.* MiB/m);
  });
});

describe('readTar', () => {
  const file = (name: string) => ({ name, data: new Uint8Array([1, 2, 3]) });
  it('lists regular files with their bytes and skips directories', () => {
    const { files, skipped } = readTar(tar([{ name: 'd/', type: '5' }, file('d/a.bin'), { name: 'd/b', data: new Uint8Array(700).fill(7) }]));
    expect(files.map((f) => [f.name, f.data.length])).toEqual([['d/a.bin', 3], ['d/b', 700]]);
    expect(files[1].data.every((b) => b === 7)).toBe(true);
    expect(skipped).toEqual([{ name: 'd/', type: '5' }]);
  });

  it('refuses path traversal and absolute names, and corrupt or truncated archives', () => {
    expect(() => readTar(tar([file('../evil')]))).toThrow("readTar: entry '../evil' at byte 0 refused: '..' would leave the extraction folder");
    expect(() => readTar(tar([file('a/../../evil')]))).toThrow(/refused: '\.\.' would leave the extraction folder/);
    expect(() => readTar(tar([file('/etc/passwd')]))).toThrow("readTar: entry '/etc/passwd' at byte 0 refused: absolute path");
    expect(() => readTar(tar([file('a\\b')]))).toThrow(/refused: backslash in the name/);
    const corrupt = tar([file('a')]);
    corrupt[10] ^= 1;
    expect(() => readTar(corrupt)).toThrow(/readTar: header at byte 0 has checksum \d+, computed \d+ \(not a tar archive, or corrupt\)/);
    const long = tar([{ name: 'big', data: new Uint8Array(2000) }]);
    expect(() => readTar(long.subarray(0, 1024))).toThrow("readTar: entry 'big' at byte 0 needs 2000 bytes but the archive ends after 512 (truncated)");
  });
});

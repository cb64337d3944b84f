/**
 * A small reader of (uncompressed) tar archives, enough for the CIFAR-10 release: POSIX ustar and
 * GNU headers, GNU long names ('L') and pax path records ('x'). Only regular files come out;
 * directories, links and devices are listed as skipped. Names that could escape the extraction
 * folder (absolute paths, '..' segments, backslashes, NUL) are refused, so the caller can join an
 * entry's name to a folder without further checks. Pure bytes in, bytes out: browser-safe.
 */

const BLOCK = 512;

export interface TarEntry {
  /** Relative path inside the archive, '/'-separated, never absolute and never containing '..'. */
  readonly name: string;
  /** The file's bytes (a view into the archive). */
  readonly data: Uint8Array;
}

export interface TarContents {
  readonly files: TarEntry[];
  /** Entries that were not regular files: name and type flag. */
  readonly skipped: { name: string; type: string }[];
}

const decoder = new TextDecoder();

function field(block: Uint8Array, at: number, length: number): string {
  const bytes = block.subarray(at, at + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function number(block: Uint8Array, at: number, length: number, what: string, offset: number): number {
  if (block[at] & 0x80) {
    let v = block[at] & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + block[at + i];
    return v;
  }
  const text = field(block, at, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`readTar: header at byte ${offset} has a malformed ${what} field '${text}'`);
  return parseInt(text, 8);
}

/** Throws unless `name` is a safe relative path. */
export function checkEntryName(name: string, offset: number): string {
  const bad = (why: string) => new Error(`readTar: entry '${name}' at byte ${offset} refused: ${why}`);
  if (name === '') throw bad('empty name');
  if (name.includes('\0')) throw bad('NUL in the name');
  if (name.includes('\\')) throw bad('backslash in the name');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw bad('absolute path');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad("'..' would leave the extraction folder");
  if (parts.length === 0) throw bad('empty path');
  return parts.join('/');
}

/** The value of `key` in a pax extended header (records "<len> key=value\n"). */
function paxValue(data: Uint8Array, key: string): string | undefined {
  const text = decoder.decode(data);
  let at = 0;
  let found: string | undefined;
  while (at < text.length) {
    const space = text.indexOf(' ', at);
    if (space < 0) break;
    const len = Number(text.slice(at, space));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = text.slice(space + 1, at + len - 1); // drop the trailing newline
    const eq = record.indexOf('=');
    if (eq >= 0 && record.slice(0, eq) === key) found = record.slice(eq + 1);
    at += len;
  }
  return found;
}

/**
 * Lists the regular files of a tar archive.
 *
 * @example
 * const { files } = readTar(gunzipSync(archiveBytes));
 * files.map((f) => f.name); // ['cifar-10-batches-bin/data_batch_1.bin', ...]
 */
export function readTar(archive: Uint8Array): TarContents {
  const files: TarEntry[] = [];
  const skipped: { name: string; type: string }[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const at = offset;
    const header = archive.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    const stored = number(header, 148, 8, 'checksum', offset);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    if (sum !== stored) throw new Error(`readTar: header at byte ${offset} has checksum ${stored}, computed ${sum} (not a tar archive, or corrupt)`);
    const size = number(header, 124, 12, 'size', offset);
    const type = String.fromCharCode(header[156] || 48); // NUL is a regular file
    const magic = field(header, 257, 6);
    const prefix = magic.startsWith('ustar') && header[263] === 48 /* POSIX '00' */ ? field(header, 345, 155) : '';
    const rawName = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    const dataStart = offset + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > archive.length) {
      throw new Error(`readTar: entry '${rawName}' at byte ${offset} needs ${size} bytes but the archive ends after ${archive.length - dataStart} (truncated)`);
    }
    const data = archive.subarray(dataStart, dataEnd);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      longName = paxValue(data, 'path') ?? longName;
      continue;
    }
    longName = undefined;
    if (type === 'g') continue; // pax global header: nothing we use
    if (type === '0' || type === '7') files.push({ name: checkEntryName(rawName, at), data });
    else skipped.push({ name: rawName, type });
  }
  return { files, skipped };
}

/**
 * CRC-32C (Castagnoli), the checksum of Zarr v3's `crc32c` codec: the chunk's bytes followed by
 * the CRC as a little-endian uint32. zarrita strips it on read without checking it, so the store
 * checks it itself (scale/store.ts) to find corrupted or truncated chunks.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of bytes; crc32c(ascii '123456789') = 0xe3069283 (the standard check value). */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the zlib/gzip polynomial). Uses node's native `zlib.crc32` (Node >= 20.15)
 * and falls back to a table-driven version on older Node 20 releases. `crc32(b, crc32(a))`
 * equals `crc32(a ++ b)`, so a checksum can be built over several pieces.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32Table(data: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type Crc32 = (data: Uint8Array, previous?: number) => number;

const native = (zlib as { crc32?: Crc32 }).crc32;

export const crc32: Crc32 = typeof native === 'function' ? native : crc32Table;

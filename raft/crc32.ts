import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE, the zlib polynomial) for the log store's records. raft/ imports nothing from
 * src/, so it carries its own: node's native zlib.crc32 where present (Node >= 20.15), else a
 * table-driven loop.
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

export function crc32Table(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export const crc32: (data: Uint8Array) => number =
  typeof native === 'function' ? (d) => native(d) >>> 0 : crc32Table;

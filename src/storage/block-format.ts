import { CountError } from '../model/errors.js';
import { crc32 } from './crc32.js';

/**
 * On-disk layout of one block, `blocks/<id>/`:
 * - `chunks`: compressed chunks (compression/chunk.ts) back to back, each series' chunks
 *   contiguous and in time order.
 * - `index`: the series in key order, and for each its chunks (offset, length, count, min and
 *   max time, crc32 of the chunk bytes); ends with a crc32 of everything before it.
 * - `meta.json`: window, sequence number, counts, and size + crc32 of `index` and `chunks`;
 *   carries its own crc32. Written last, so a directory without a valid meta is an unfinished
 *   write, never a block.
 */
export const BLOCK_FORMAT_VERSION = 1;
export const BLOCK_META_FILE = 'meta.json';
export const BLOCK_INDEX_FILE = 'index';
export const BLOCK_CHUNKS_FILE = 'chunks';

const INDEX_MAGIC = 0x58444943; // "CIDX"
const INDEX_HEADER_BYTES = 12;
const CHUNK_ENTRY_BYTES = 36;

export function checksum(bytes: Uint8Array, previous?: number): number {
  return crc32(bytes, previous ?? 0);
}

export interface BlockFileInfo {
  size: number;
  crc32: number;
}

export interface BlockMeta {
  format: number;
  id: string;
  /** Order of creation; tombstones hide a series in blocks with seq <= their maxBlockSeq. */
  seq: number;
  /** The time window [start, end) the block covers; every point lies inside it. */
  start: number;
  end: number;
  minTime: number;
  maxTime: number;
  /** 0 for a block cut from the head; each compaction adds one. */
  level: number;
  series: number;
  chunks: number;
  points: number;
  index: BlockFileInfo;
  chunkFile: BlockFileInfo;
}

/** Block ids sort in creation order. */
export function blockIdForSeq(seq: number): string {
  return `b${String(seq).padStart(12, '0')}`;
}

export function encodeMeta(meta: BlockMeta): Uint8Array {
  const body = JSON.stringify(meta);
  const text = JSON.stringify({ body, crc32: checksum(new TextEncoder().encode(body)) });
  return new TextEncoder().encode(`${text}\n`);
}

/** Parses and verifies a meta file; returns undefined for anything not a complete, valid meta. */
export function decodeMeta(bytes: Uint8Array): BlockMeta | undefined {
  try {
    const outer = JSON.parse(new TextDecoder().decode(bytes)) as {
      body?: unknown;
      crc32?: unknown;
    };
    if (typeof outer.body !== 'string' || typeof outer.crc32 !== 'number') return undefined;
    if (checksum(new TextEncoder().encode(outer.body)) !== outer.crc32) return undefined;
    const meta = JSON.parse(outer.body) as BlockMeta;
    if (meta.format !== BLOCK_FORMAT_VERSION) return undefined;
    return meta;
  } catch {
    return undefined;
  }
}

/** Chunk references of all series of a block, in columns (no per-chunk objects). */
export interface BlockIndex {
  /** Series keys in ascending order. */
  keys: string[];
  /** Chunks of series i are [firstChunk[i], firstChunk[i+1]). Length keys.length + 1. */
  firstChunk: Uint32Array;
  offsets: Float64Array;
  lengths: Uint32Array;
  counts: Uint32Array;
  minTimes: Float64Array;
  maxTimes: Float64Array;
  crcs: Uint32Array;
}

export class BlockIndexBuilder {
  keys: string[] = [];
  private first: number[] = [];
  private offsets: number[] = [];
  private lengths: number[] = [];
  private counts: number[] = [];
  private minTimes: number[] = [];
  private maxTimes: number[] = [];
  private crcs: number[] = [];

  get chunkCount(): number {
    return this.offsets.length;
  }

  startSeries(key: string): void {
    const last = this.keys.length === 0 ? undefined : this.keys[this.keys.length - 1];
    if (last !== undefined && !(last < key)) {
      throw new CountError('internal', `block series must be added in key order: ${key}`);
    }
    this.keys.push(key);
    this.first.push(this.offsets.length);
  }

  addChunk(
    offset: number,
    length: number,
    count: number,
    minTime: number,
    maxTime: number,
    crc: number,
  ): void {
    this.offsets.push(offset);
    this.lengths.push(length);
    this.counts.push(count);
    this.minTimes.push(minTime);
    this.maxTimes.push(maxTime);
    this.crcs.push(crc);
  }

  encode(): Uint8Array {
    const te = new TextEncoder();
    const keyBytes = this.keys.map((k) => te.encode(k));
    let size = INDEX_HEADER_BYTES + 4;
    for (const kb of keyBytes) size += 6 + kb.length;
    size += this.offsets.length * CHUNK_ENTRY_BYTES + 4;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, INDEX_MAGIC, true);
    view.setUint32(4, BLOCK_FORMAT_VERSION, true);
    view.setUint32(8, this.keys.length, true);
    view.setUint32(12, this.offsets.length, true);
    let p = INDEX_HEADER_BYTES + 4;
    for (let i = 0; i < keyBytes.length; i++) {
      const end = i + 1 < this.first.length ? this.first[i + 1] : this.offsets.length;
      view.setUint16(p, keyBytes[i].length, true);
      view.setUint32(p + 2, end - this.first[i], true);
      out.set(keyBytes[i], p + 6);
      p += 6 + keyBytes[i].length;
    }
    for (let c = 0; c < this.offsets.length; c++) {
      view.setFloat64(p, this.offsets[c], true);
      view.setUint32(p + 8, this.lengths[c], true);
      view.setUint32(p + 12, this.counts[c], true);
      view.setFloat64(p + 16, this.minTimes[c], true);
      view.setFloat64(p + 24, this.maxTimes[c], true);
      view.setUint32(p + 32, this.crcs[c], true);
      p += CHUNK_ENTRY_BYTES;
    }
    view.setUint32(p, checksum(out.subarray(0, p)), true);
    return out;
  }
}

export function decodeIndex(bytes: Uint8Array, where: string): BlockIndex {
  const bad = (what: string) => new CountError('corrupt_data', `block index ${where}: ${what}`);
  if (bytes.length < INDEX_HEADER_BYTES + 8) throw bad('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 4;
  if (checksum(bytes.subarray(0, end)) !== view.getUint32(end, true))
    throw bad('checksum mismatch');
  if (view.getUint32(0, true) !== INDEX_MAGIC) throw bad('bad magic');
  if (view.getUint32(4, true) !== BLOCK_FORMAT_VERSION) throw bad('unknown version');
  const seriesCount = view.getUint32(8, true);
  const chunkCount = view.getUint32(12, true);
  const td = new TextDecoder('utf-8', { fatal: true });
  const keys: string[] = new Array(seriesCount);
  const firstChunk = new Uint32Array(seriesCount + 1);
  let p = INDEX_HEADER_BYTES + 4;
  let c = 0;
  for (let i = 0; i < seriesCount; i++) {
    if (p + 6 > end) throw bad('series table overrun');
    const len = view.getUint16(p, true);
    const n = view.getUint32(p + 2, true);
    if (p + 6 + len > end) throw bad('key overrun');
    keys[i] = td.decode(bytes.subarray(p + 6, p + 6 + len));
    if (i > 0 && !(keys[i - 1] < keys[i])) throw bad('series out of order');
    firstChunk[i] = c;
    c += n;
    p += 6 + len;
  }
  firstChunk[seriesCount] = c;
  if (c !== chunkCount || p + chunkCount * CHUNK_ENTRY_BYTES !== end) throw bad('chunk table size');
  const offsets = new Float64Array(chunkCount);
  const lengths = new Uint32Array(chunkCount);
  const counts = new Uint32Array(chunkCount);
  const minTimes = new Float64Array(chunkCount);
  const maxTimes = new Float64Array(chunkCount);
  const crcs = new Uint32Array(chunkCount);
  for (let k = 0; k < chunkCount; k++) {
    offsets[k] = view.getFloat64(p, true);
    lengths[k] = view.getUint32(p + 8, true);
    counts[k] = view.getUint32(p + 12, true);
    minTimes[k] = view.getFloat64(p + 16, true);
    maxTimes[k] = view.getFloat64(p + 24, true);
    crcs[k] = view.getUint32(p + 32, true);
    p += CHUNK_ENTRY_BYTES;
  }
  return { keys, firstChunk, offsets, lengths, counts, minTimes, maxTimes, crcs };
}

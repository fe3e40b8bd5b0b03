import { decodeChunkInto } from '../compression/chunk.js';
import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import { EMPTY_SAMPLES, type Samples } from '../model/point.js';
import { sliceSamples } from '../query/samples-range.js';
import {
  BLOCK_CHUNKS_FILE,
  BLOCK_INDEX_FILE,
  BLOCK_META_FILE,
  type BlockIndex,
  type BlockMeta,
  checksum,
  decodeIndex,
  decodeMeta,
} from './block-format.js';
import { isNotFound, joinPath, type Vfs, type VfsFile } from './vfs.js';

/**
 * An open, immutable block: its meta and index in memory, its chunk file read on demand. Each
 * chunk's crc32 is checked when read; the index and the chunk file's size are checked at open.
 * Readers hold a reference (acquire/release) so a block removed by compaction or retention
 * closes its file only after the last read in flight.
 */
export class Block {
  private readonly seriesByKey = new Map<string, number>();
  private refs = 0;
  private retired = false;

  private constructor(
    readonly meta: BlockMeta,
    readonly dir: string,
    private readonly index: BlockIndex,
    private readonly file: VfsFile,
  ) {
    for (let i = 0; i < index.keys.length; i++) this.seriesByKey.set(index.keys[i], i);
  }

  /**
   * Opens `dir`. Returns undefined when the meta is missing: the block was never finished. A
   * meta that is there but fails its checksum, or a damaged index or chunk file, is corruption
   * (corrupt_data): the meta is written and fsynced before anything reads it, so a bad one is
   * damage, and taking it for an unfinished write would have the engine delete the block.
   */
  static async open(vfs: Vfs, dir: string): Promise<Block | undefined> {
    let metaBytes: Uint8Array;
    try {
      metaBytes = await vfs.readFile(joinPath(dir, BLOCK_META_FILE));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    const meta = decodeMeta(metaBytes);
    if (meta === undefined) {
      throw new CountError('corrupt_data', `block ${dir}: meta fails its checksum or format`);
    }
    let indexBytes: Uint8Array;
    try {
      indexBytes = await vfs.readFile(joinPath(dir, BLOCK_INDEX_FILE));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      throw new CountError('corrupt_data', `block ${dir}: index file missing under a valid meta`);
    }
    if (indexBytes.length !== meta.index.size || checksum(indexBytes) !== meta.index.crc32) {
      throw new CountError('corrupt_data', `block ${dir}: index does not match its meta`);
    }
    const index = decodeIndex(indexBytes, dir);
    let file: VfsFile;
    try {
      file = await vfs.open(joinPath(dir, BLOCK_CHUNKS_FILE), 'read');
    } catch (e) {
      if (!isNotFound(e)) throw e;
      throw new CountError('corrupt_data', `block ${dir}: chunk file missing under a valid meta`);
    }
    if (file.size() !== meta.chunkFile.size) {
      await file.close();
      throw new CountError('corrupt_data', `block ${dir}: chunk file size does not match its meta`);
    }
    return new Block(meta, dir, index, file);
  }

  get seriesKeys(): readonly string[] {
    return this.index.keys;
  }

  has(key: string): boolean {
    return this.seriesByKey.has(key);
  }

  get sizeBytes(): number {
    return this.meta.index.size + this.meta.chunkFile.size;
  }

  overlaps(start: number, end: number): boolean {
    return this.meta.minTime < end && this.meta.maxTime >= start;
  }

  acquire(): void {
    assert(!this.retired || this.refs > 0, `block ${this.meta.id} used after it was closed`);
    this.refs++;
  }

  release(): void {
    assert(this.refs > 0, 'Block.release without acquire');
    this.refs--;
    if (this.refs === 0 && this.retired) void this.file.close();
  }

  /** No new readers; the file closes when the last one releases. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.refs === 0) void this.file.close();
  }

  /** Points of `key` with start <= t < end (sorted, no duplicates). */
  async read(key: string, start: number, end: number): Promise<Samples> {
    const s = this.seriesByKey.get(key);
    if (s === undefined) return EMPTY_SAMPLES;
    const ix = this.index;
    let a = ix.firstChunk[s];
    let b = ix.firstChunk[s + 1];
    // A series' chunks are in time order: skip those wholly outside the range.
    while (a < b && ix.maxTimes[a] < start) a++;
    while (b > a && ix.minTimes[b - 1] >= end) b--;
    if (a === b) return EMPTY_SAMPLES;
    let total = 0;
    for (let c = a; c < b; c++) total += ix.counts[c];
    const base = ix.offsets[a];
    const bytes = await this.file.read(base, ix.offsets[b - 1] + ix.lengths[b - 1] - base);
    const ts = new Float64Array(total);
    const vs = new Float64Array(total);
    let at = 0;
    for (let c = a; c < b; c++) {
      const from = ix.offsets[c] - base;
      const chunk = bytes.subarray(from, from + ix.lengths[c]);
      if (chunk.length !== ix.lengths[c] || checksum(chunk) !== ix.crcs[c]) {
        throw new CountError(
          'corrupt_data',
          `block ${this.dir}: chunk checksum mismatch for ${key}`,
        );
      }
      const n = decodeChunkInto(chunk, ts, vs, at);
      assert(n === ix.counts[c], `block ${this.dir}: chunk point count differs from the index`);
      at += n;
    }
    return sliceSamples({ timestamps: ts, values: vs }, start, end);
  }
}

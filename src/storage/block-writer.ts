import { encodeChunk } from '../compression/chunk.js';
import { assert } from '../model/assert.js';
import type { Samples } from '../model/point.js';
import {
  BLOCK_CHUNKS_FILE,
  BLOCK_FORMAT_VERSION,
  BLOCK_INDEX_FILE,
  BLOCK_META_FILE,
  BlockIndexBuilder,
  type BlockMeta,
  blockIdForSeq,
  checksum,
  encodeMeta,
} from './block-format.js';
import { joinPath, type Vfs, type VfsFile } from './vfs.js';

/** Chunk bytes are gathered up to this size before one append, bounding memory and syscalls. */
const WRITE_BUFFER_BYTES = 1 << 20;

export interface BlockWindow {
  start: number;
  end: number;
}

/**
 * Writes one block: series in key order into `<id>.tmp/`, then fsyncs the files, writes the
 * meta last, and renames the directory into place. A crash at any step leaves either no block
 * or a complete one (plus a `.tmp` directory that open() removes).
 */
export class BlockWriter {
  private readonly index = new BlockIndexBuilder();
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private offset = 0;
  private chunkCrc = 0;
  private points = 0;
  private minTime = Number.POSITIVE_INFINITY;
  private maxTime = Number.NEGATIVE_INFINITY;
  private done = false;

  private constructor(
    private readonly vfs: Vfs,
    private readonly blocksDir: string,
    readonly id: string,
    private readonly seq: number,
    private readonly window: BlockWindow,
    private readonly level: number,
    private readonly maxPointsPerChunk: number,
    private readonly chunks: VfsFile,
  ) {}

  static async create(
    vfs: Vfs,
    blocksDir: string,
    seq: number,
    window: BlockWindow,
    level: number,
    maxPointsPerChunk: number,
  ): Promise<BlockWriter> {
    assert(window.start < window.end, 'BlockWriter: empty window');
    assert(maxPointsPerChunk > 0, 'BlockWriter: maxPointsPerChunk must be positive');
    const id = blockIdForSeq(seq);
    const tmp = joinPath(blocksDir, `${id}.tmp`);
    await vfs.remove(tmp);
    await vfs.mkdir(tmp);
    const chunks = await vfs.open(joinPath(tmp, BLOCK_CHUNKS_FILE), 'create');
    return new BlockWriter(vfs, blocksDir, id, seq, window, level, maxPointsPerChunk, chunks);
  }

  get seriesCount(): number {
    return this.index.keys.length;
  }

  /** Adds one series' points (sorted, no duplicates, inside the window). Empty is skipped. */
  async addSeries(key: string, samples: Samples): Promise<void> {
    assert(!this.done, 'BlockWriter.addSeries after finish');
    const n = samples.timestamps.length;
    if (n === 0) return;
    const ts = samples.timestamps;
    assert(
      ts[0] >= this.window.start && ts[n - 1] < this.window.end,
      `BlockWriter: points of ${key} outside the block window`,
    );
    this.index.startSeries(key);
    for (let from = 0; from < n; from += this.maxPointsPerChunk) {
      const to = Math.min(n, from + this.maxPointsPerChunk);
      const bytes = encodeChunk(ts, samples.values, from, to);
      const crc = checksum(bytes);
      this.index.addChunk(this.offset, bytes.length, to - from, ts[from], ts[to - 1], crc);
      this.chunkCrc = checksum(bytes, this.chunkCrc);
      this.offset += bytes.length;
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
    }
    this.points += n;
    if (ts[0] < this.minTime) this.minTime = ts[0];
    if (ts[n - 1] > this.maxTime) this.maxTime = ts[n - 1];
    if (this.pendingBytes >= WRITE_BUFFER_BYTES) await this.drain();
  }

  private async drain(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buf = new Uint8Array(this.pendingBytes);
    let p = 0;
    for (const part of this.pending) {
      buf.set(part, p);
      p += part.length;
    }
    this.pending = [];
    this.pendingBytes = 0;
    await this.chunks.append(buf);
  }

  /** Makes the block durable under `blocks/<id>/` and returns its meta. */
  async finish(): Promise<BlockMeta> {
    assert(!this.done, 'BlockWriter.finish twice');
    this.done = true;
    const tmp = joinPath(this.blocksDir, `${this.id}.tmp`);
    await this.drain();
    await this.chunks.sync();
    await this.chunks.close();
    const indexBytes = this.index.encode();
    await writeDurably(this.vfs, joinPath(tmp, BLOCK_INDEX_FILE), indexBytes);
    const meta: BlockMeta = {
      format: BLOCK_FORMAT_VERSION,
      id: this.id,
      seq: this.seq,
      start: this.window.start,
      end: this.window.end,
      minTime: this.points === 0 ? this.window.start : this.minTime,
      maxTime: this.points === 0 ? this.window.start : this.maxTime,
      level: this.level,
      series: this.index.keys.length,
      chunks: this.index.chunkCount,
      points: this.points,
      index: { size: indexBytes.length, crc32: checksum(indexBytes) },
      chunkFile: { size: this.offset, crc32: this.chunkCrc },
    };
    await writeDurably(this.vfs, joinPath(tmp, BLOCK_META_FILE), encodeMeta(meta));
    await this.vfs.syncDir(tmp);
    await this.vfs.rename(tmp, joinPath(this.blocksDir, this.id));
    await this.vfs.syncDir(this.blocksDir);
    return meta;
  }

  /** Drops an unfinished block. */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.chunks.close().catch(() => undefined);
    }
    await this.vfs.remove(joinPath(this.blocksDir, `${this.id}.tmp`));
  }
}

/** Creates `path` with `bytes` and fsyncs it (the caller syncs the directory). */
export async function writeDurably(vfs: Vfs, path: string, bytes: Uint8Array): Promise<void> {
  const f = await vfs.open(path, 'create');
  try {
    await f.append(bytes);
    await f.sync();
  } finally {
    await f.close();
  }
}

import { encodeChunk } from '../compression/chunk.js';
import { CountError } from '../model/errors.js';
import { checksum } from './block-format.js';
import type { SeriesParts } from './head.js';
import { joinPath, type Vfs } from './vfs.js';

/**
 * A checkpoint holds what stays in the head when old windows are cut to blocks, so the WAL
 * segments before `walSegment` can be removed. File `checkpoints/<walSegment>`, little-endian:
 *   u32 magic "CCKP", u32 version, f64 walSegment, f64 nextBlockSeq, f64 highWatermark,
 *   u32 seriesCount, per series { u16 keyBytes, key, u32 chunkCount, chunkCount x { u32 len,
 *   chunk bytes } }, u32 crc32 of everything before.
 * Written to `<name>.tmp`, fsynced, renamed; a checkpoint file therefore is complete or absent.
 */
export const CHECKPOINT_DIR = 'checkpoints';
const MAGIC = 0x504b4343; // "CCKP"
const VERSION = 1;
const HEADER_BYTES = 32;
const WRITE_BUFFER_BYTES = 1 << 20;

export interface CheckpointState {
  /** First WAL segment to replay on top of this checkpoint. */
  walSegment: number;
  nextBlockSeq: number;
  highWatermark: number;
}

export interface CheckpointSeries {
  key: string;
  /** Chunks in the order to re-append: in-order data first, then out-of-order runs. */
  chunks: Uint8Array[];
}

export interface LoadedCheckpoint {
  name: string;
  state: CheckpointState;
  series: CheckpointSeries[];
}

export function checkpointName(walSegment: number): string {
  return String(walSegment).padStart(12, '0');
}

export async function writeCheckpoint(
  vfs: Vfs,
  state: CheckpointState,
  series: Array<{ key: string; parts: SeriesParts }>,
): Promise<string> {
  const name = checkpointName(state.walSegment);
  const tmp = joinPath(CHECKPOINT_DIR, `${name}.tmp`);
  await vfs.mkdir(CHECKPOINT_DIR);
  const file = await vfs.open(tmp, 'create');
  try {
    let crc = 0;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const push = async (bytes: Uint8Array) => {
      crc = checksum(bytes, crc);
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= WRITE_BUFFER_BYTES) await drain();
    };
    const drain = async () => {
      if (pendingBytes === 0) return;
      const buf = new Uint8Array(pendingBytes);
      let p = 0;
      for (const part of pending) {
        buf.set(part, p);
        p += part.length;
      }
      pending = [];
      pendingBytes = 0;
      await file.append(buf);
    };
    const header = new Uint8Array(HEADER_BYTES + 4);
    const hv = new DataView(header.buffer);
    hv.setUint32(0, MAGIC, true);
    hv.setUint32(4, VERSION, true);
    hv.setFloat64(8, state.walSegment, true);
    hv.setFloat64(16, state.nextBlockSeq, true);
    hv.setFloat64(24, state.highWatermark, true);
    hv.setUint32(32, series.length, true);
    await push(header);
    const te = new TextEncoder();
    for (const { key, parts } of series) {
      const chunks = parts.chunks.map((c) => c.bytes);
      for (const r of parts.raws) {
        if (r.timestamps.length > 0) chunks.push(encodeChunk(r.timestamps, r.values));
      }
      const kb = te.encode(key);
      const head = new Uint8Array(6 + kb.length);
      const v = new DataView(head.buffer);
      v.setUint16(0, kb.length, true);
      head.set(kb, 2);
      v.setUint32(2 + kb.length, chunks.length, true);
      await push(head);
      for (const c of chunks) {
        const len = new Uint8Array(4);
        new DataView(len.buffer).setUint32(0, c.length, true);
        await push(len);
        await push(c);
      }
    }
    const trailer = new Uint8Array(4);
    new DataView(trailer.buffer).setUint32(0, crc, true);
    pending.push(trailer);
    pendingBytes += 4;
    await drain();
    await file.sync();
  } finally {
    await file.close();
  }
  await vfs.rename(tmp, joinPath(CHECKPOINT_DIR, name));
  await vfs.syncDir(CHECKPOINT_DIR);
  return name;
}

export function decodeCheckpoint(name: string, bytes: Uint8Array): LoadedCheckpoint {
  const bad = (what: string) => new CountError('corrupt_data', `checkpoint ${name}: ${what}`);
  if (bytes.length < HEADER_BYTES + 8) throw bad('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 4;
  if (checksum(bytes.subarray(0, end)) !== view.getUint32(end, true))
    throw bad('checksum mismatch');
  if (view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== VERSION) {
    throw bad('bad magic or version');
  }
  const state: CheckpointState = {
    walSegment: view.getFloat64(8, true),
    nextBlockSeq: view.getFloat64(16, true),
    highWatermark: view.getFloat64(24, true),
  };
  const count = view.getUint32(32, true);
  const td = new TextDecoder('utf-8', { fatal: true });
  const series: CheckpointSeries[] = [];
  let p = HEADER_BYTES + 4;
  for (let i = 0; i < count; i++) {
    if (p + 2 > end) throw bad('series overrun');
    const klen = view.getUint16(p, true);
    if (p + 6 + klen > end) throw bad('key overrun');
    const key = td.decode(bytes.subarray(p + 2, p + 2 + klen));
    const n = view.getUint32(p + 2 + klen, true);
    p += 6 + klen;
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < n; c++) {
      if (p + 4 > end) throw bad('chunk overrun');
      const len = view.getUint32(p, true);
      if (p + 4 + len > end) throw bad('chunk overrun');
      chunks.push(bytes.subarray(p + 4, p + 4 + len));
      p += 4 + len;
    }
    series.push({ key, chunks });
  }
  if (p !== end) throw bad('trailing bytes');
  return { name, state, series };
}

/** Loads the newest checkpoint, after removing unfinished `.tmp` files. */
export async function loadLatestCheckpoint(vfs: Vfs): Promise<LoadedCheckpoint | undefined> {
  const names = await vfs.list(CHECKPOINT_DIR);
  let latest: string | undefined;
  for (const n of names) {
    if (n.endsWith('.tmp')) await vfs.remove(joinPath(CHECKPOINT_DIR, n));
    else if (/^\d{12}$/.test(n) && (latest === undefined || n > latest)) latest = n;
  }
  if (latest === undefined) return undefined;
  return decodeCheckpoint(latest, await vfs.readFile(joinPath(CHECKPOINT_DIR, latest)));
}

/** Removes checkpoints older than `keep` (they are superseded once `keep` is durable). */
export async function removeCheckpointsBefore(vfs: Vfs, keep: string): Promise<void> {
  let removed = false;
  for (const n of await vfs.list(CHECKPOINT_DIR)) {
    if (/^\d{12}$/.test(n) && n < keep) {
      await vfs.remove(joinPath(CHECKPOINT_DIR, n));
      removed = true;
    }
  }
  if (removed) await vfs.syncDir(CHECKPOINT_DIR);
}

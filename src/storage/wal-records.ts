import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';

/**
 * The engine's WAL record encoding. The WAL itself (wal.ts) carries opaque payloads; these are
 * the two kinds the engine writes:
 *
 * SAMPLES (one per written batch), little-endian:
 *   u8 kind=1, u8 0, u16 0, u32 defCount, u32 pointCount, u32 defBytes,
 *   keys: defCount x { u16 keyBytes, key utf8 }, zero padding to 8 bytes,
 *   f64[pointCount] timestamps, f64[pointCount] values, u32[pointCount] key numbers
 * Each record names the series it uses (key number i = the i-th key), so it is self-contained:
 * replay can start at any segment, and a record the WAL refused leaves nothing dangling. The
 * keys cost little beside the columns (100 keys per 10,000 points is ~2%). Columns, not
 * per-point records: encoding is three typed-array copies.
 *
 * TOMBSTONE (one per deleteSeries): u8 kind=2, u8 0, u16 keyBytes, u32 0, f64 maxBlockSeq, key.
 *
 * REF_SAMPLES (what the engine writes per batch since SAMPLES repeated every key in every
 * record: ~90 B a key, 1.1 MB of WAL for a 10,000-series request of 200 KB of points):
 *   u8 kind=3, u8 0, u16 0, u32 defCount, u32 pointCount, u32 defBytes,
 *   defs: defCount x { u32 ref, u16 keyBytes, key utf8 }, zero padding to 8 bytes,
 *   f64[pointCount] timestamps, f64[pointCount] values, u32[pointCount] refs
 * A ref is a number scoped to one WAL segment: the record that first uses a series in a segment
 * defines its ref, later records of that segment refer to it. So a segment is self-contained
 * (replay may start at any segment), but a record alone is not: the reader keeps the segment's
 * ref table (RefTable below) and resets it at each new segment. SAMPLES is still read (older
 * WALs) and is the format of the cluster's samples codec.
 */
export const WAL_RECORD_SAMPLES = 1;
export const WAL_RECORD_TOMBSTONE = 2;
export const WAL_RECORD_REF_SAMPLES = 3;

const SAMPLES_HEADER_BYTES = 16;
const TOMBSTONE_HEADER_BYTES = 16;
const MAX_KEY_BYTES = 0xffff;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export interface SamplesRecord {
  keys: string[];
  /** Per point, an index into `keys`. */
  seriesIds: Uint32Array;
  timestamps: Float64Array;
  values: Float64Array;
}

export interface TombstoneRecord {
  key: string;
  maxBlockSeq: number;
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * Encodes a SAMPLES record. `seriesIds`, `timestamps` and `values` are read for `[0, count)`.
 */
export function encodeSamplesRecord(
  keys: readonly (string | Uint8Array)[],
  seriesIds: Uint32Array,
  timestamps: Float64Array,
  values: Float64Array,
  count: number,
): Uint8Array {
  assert(
    count <= timestamps.length && count <= values.length && count <= seriesIds.length,
    'encodeSamplesRecord: count exceeds columns',
  );
  // Callers may pass keys already UTF-8 encoded (the engine caches them per series).
  const keyBytes = keys.map((k) => (typeof k === 'string' ? utf8.encode(k) : k));
  let defBytes = 0;
  for (const kb of keyBytes) {
    assert(kb.length <= MAX_KEY_BYTES, 'encodeSamplesRecord: series key too long');
    defBytes += 2 + kb.length;
  }
  const columnsAt = pad8(SAMPLES_HEADER_BYTES + defBytes);
  const total = columnsAt + count * 20;
  const buf = new ArrayBuffer(total);
  const out = new Uint8Array(buf);
  const view = new DataView(buf);
  view.setUint8(0, WAL_RECORD_SAMPLES);
  view.setUint32(4, keys.length, true);
  view.setUint32(8, count, true);
  view.setUint32(12, defBytes, true);
  let p = SAMPLES_HEADER_BYTES;
  for (let i = 0; i < keyBytes.length; i++) {
    view.setUint16(p, keyBytes[i].length, true);
    out.set(keyBytes[i], p + 2);
    p += 2 + keyBytes[i].length;
  }
  new Float64Array(buf, columnsAt, count).set(timestamps.subarray(0, count));
  new Float64Array(buf, columnsAt + count * 8, count).set(values.subarray(0, count));
  new Uint32Array(buf, columnsAt + count * 16, count).set(seriesIds.subarray(0, count));
  return out;
}

export function encodeTombstoneRecord(record: TombstoneRecord): Uint8Array {
  const kb = utf8.encode(record.key);
  assert(kb.length <= MAX_KEY_BYTES, 'encodeTombstoneRecord: series key too long');
  const out = new Uint8Array(TOMBSTONE_HEADER_BYTES + kb.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, WAL_RECORD_TOMBSTONE);
  view.setUint16(2, kb.length, true);
  view.setFloat64(8, record.maxBlockSeq, true);
  out.set(kb, TOMBSTONE_HEADER_BYTES);
  return out;
}

function corrupt(what: string): CountError {
  return new CountError('corrupt_data', `WAL record: ${what}`);
}

export function walRecordKind(payload: Uint8Array): number {
  if (payload.length === 0) throw corrupt('empty payload');
  return payload[0];
}

/** The framing both samples record kinds share: header, key section, 8-byte aligned columns. */
interface SamplesFrame {
  view: DataView;
  defCount: number;
  count: number;
  defsEnd: number;
  timestamps: Float64Array;
  values: Float64Array;
  /** Series ids (SAMPLES) or refs (REF_SAMPLES), one per point. */
  ids: Uint32Array;
}

function decodeSamplesFrame(payload: Uint8Array, kind: number, what: string): SamplesFrame {
  if (payload.length < SAMPLES_HEADER_BYTES || payload[0] !== kind) {
    throw corrupt(`not a ${what} record`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const defCount = view.getUint32(4, true);
  const count = view.getUint32(8, true);
  const defBytes = view.getUint32(12, true);
  const columnsAt = pad8(SAMPLES_HEADER_BYTES + defBytes);
  if (columnsAt + count * 20 !== payload.length) throw corrupt('length does not match header');
  // Typed-array views need 8-byte alignment; copy only when the payload is misaligned.
  const aligned = (payload.byteOffset + columnsAt) % 8 === 0 ? payload : payload.slice();
  const base = aligned.byteOffset + columnsAt;
  return {
    view,
    defCount,
    count,
    defsEnd: SAMPLES_HEADER_BYTES + defBytes,
    timestamps: new Float64Array(aligned.buffer, base, count),
    values: new Float64Array(aligned.buffer, base + count * 8, count),
    ids: new Uint32Array(aligned.buffer, base + count * 16, count),
  };
}

export function decodeSamplesRecord(payload: Uint8Array): SamplesRecord {
  const { view, defCount, count, defsEnd, timestamps, values, ids } = decodeSamplesFrame(
    payload,
    WAL_RECORD_SAMPLES,
    'samples',
  );
  const keys: string[] = [];
  let p = SAMPLES_HEADER_BYTES;
  for (let i = 0; i < defCount; i++) {
    if (p + 2 > defsEnd) throw corrupt('keys overrun');
    const len = view.getUint16(p, true);
    if (p + 2 + len > defsEnd) throw corrupt('key overruns');
    keys.push(utf8Decoder.decode(payload.subarray(p + 2, p + 2 + len)));
    p += 2 + len;
  }
  for (let i = 0; i < count; i++) {
    if (ids[i] >= defCount) throw corrupt('point names an undefined series');
  }
  return { keys, timestamps, values, seriesIds: ids };
}

export function decodeTombstoneRecord(payload: Uint8Array): TombstoneRecord {
  if (payload.length < TOMBSTONE_HEADER_BYTES || payload[0] !== WAL_RECORD_TOMBSTONE) {
    throw corrupt('not a tombstone record');
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const len = view.getUint16(2, true);
  if (TOMBSTONE_HEADER_BYTES + len !== payload.length) throw corrupt('tombstone length mismatch');
  return {
    maxBlockSeq: view.getFloat64(8, true),
    key: utf8Decoder.decode(payload.subarray(TOMBSTONE_HEADER_BYTES)),
  };
}

export interface RefSamplesRecord {
  /** Refs this record defines, parallel to `defKeys`. */
  defRefs: Uint32Array;
  defKeys: string[];
  /** Per point, the segment-scoped ref of its series. */
  refs: Uint32Array;
  timestamps: Float64Array;
  values: Float64Array;
}

/** Bytes of the defs section of a REF_SAMPLES record defining keys of these UTF-8 lengths. */
export function refDefBytes(keyByteLength: number): number {
  return 6 + keyByteLength;
}

/** Total bytes of a REF_SAMPLES record with `defBytes` of defs and `count` points. */
export function refSamplesRecordBytes(defBytes: number, count: number): number {
  return pad8(SAMPLES_HEADER_BYTES + defBytes) + count * 20;
}

/**
 * Encodes a REF_SAMPLES record: `defRefs[i]` names `defKeys[i]` (UTF-8) from here to the end of
 * the segment; `refs`, `timestamps` and `values` are read for `[0, count)`. `defBytes` is the
 * sum of refDefBytes over the keys (the caller has it from sizing the record).
 */
export function encodeRefSamplesRecord(
  defRefs: Uint32Array,
  defKeys: readonly Uint8Array[],
  defCount: number,
  defBytes: number,
  refs: Uint32Array,
  timestamps: Float64Array,
  values: Float64Array,
  count: number,
): Uint8Array {
  assert(
    count <= timestamps.length && count <= values.length && count <= refs.length,
    'encodeRefSamplesRecord: count exceeds columns',
  );
  assert(defCount <= defRefs.length && defCount <= defKeys.length, 'encodeRefSamplesRecord: defs');
  const columnsAt = pad8(SAMPLES_HEADER_BYTES + defBytes);
  const buf = new ArrayBuffer(columnsAt + count * 20);
  const out = new Uint8Array(buf);
  const view = new DataView(buf);
  view.setUint8(0, WAL_RECORD_REF_SAMPLES);
  view.setUint32(4, defCount, true);
  view.setUint32(8, count, true);
  view.setUint32(12, defBytes, true);
  let p = SAMPLES_HEADER_BYTES;
  for (let i = 0; i < defCount; i++) {
    const kb = defKeys[i];
    assert(kb.length <= MAX_KEY_BYTES, 'encodeRefSamplesRecord: series key too long');
    view.setUint32(p, defRefs[i], true);
    view.setUint16(p + 4, kb.length, true);
    out.set(kb, p + 6);
    p += 6 + kb.length;
  }
  assert(p === SAMPLES_HEADER_BYTES + defBytes, 'encodeRefSamplesRecord: defBytes does not match');
  new Float64Array(buf, columnsAt, count).set(timestamps.subarray(0, count));
  new Float64Array(buf, columnsAt + count * 8, count).set(values.subarray(0, count));
  new Uint32Array(buf, columnsAt + count * 16, count).set(refs.subarray(0, count));
  return out;
}

/** Decodes a REF_SAMPLES record; whether its refs are defined is the RefTable's business. */
export function decodeRefSamplesRecord(payload: Uint8Array): RefSamplesRecord {
  const { view, defCount, defsEnd, timestamps, values, ids } = decodeSamplesFrame(
    payload,
    WAL_RECORD_REF_SAMPLES,
    'ref samples',
  );
  if (defCount * 6 > defsEnd - SAMPLES_HEADER_BYTES) throw corrupt('defs overrun');
  const defRefs = new Uint32Array(defCount);
  const defKeys: string[] = new Array(defCount);
  let p = SAMPLES_HEADER_BYTES;
  for (let i = 0; i < defCount; i++) {
    if (p + 6 > defsEnd) throw corrupt('defs overrun');
    const len = view.getUint16(p + 4, true);
    if (p + 6 + len > defsEnd) throw corrupt('key overruns');
    defRefs[i] = view.getUint32(p, true);
    defKeys[i] = utf8Decoder.decode(payload.subarray(p + 6, p + 6 + len));
    p += 6 + len;
  }
  if (p !== defsEnd) throw corrupt('defs do not fill their section');
  return { defRefs, defKeys, timestamps, values, refs: ids };
}

/**
 * The reader's side of segment-scoped refs: the keys the records of the current segment have
 * defined so far. Replay calls `enterSegment` with each record's segment (a new segment forgets
 * every ref) and `define` for each def before resolving the record's points.
 */
export class RefTable {
  private segment = -1;
  private keys: Array<string | undefined> = [];

  enterSegment(segment: number): void {
    if (segment !== this.segment) {
      this.segment = segment;
      this.keys = [];
    }
  }

  define(ref: number, key: string): void {
    this.keys[ref] = key;
  }

  /** The key of `ref`; a ref not defined earlier in the segment means the log is corrupt. */
  key(ref: number): string {
    const k = this.keys[ref];
    if (k === undefined) throw corrupt(`ref ${ref} used before its definition in the segment`);
    return k;
  }
}

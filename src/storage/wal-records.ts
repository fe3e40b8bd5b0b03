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
 */
export const WAL_RECORD_SAMPLES = 1;
export const WAL_RECORD_TOMBSTONE = 2;

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

export function decodeSamplesRecord(payload: Uint8Array): SamplesRecord {
  if (payload.length < SAMPLES_HEADER_BYTES || payload[0] !== WAL_RECORD_SAMPLES) {
    throw corrupt('not a samples record');
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const defCount = view.getUint32(4, true);
  const count = view.getUint32(8, true);
  const defBytes = view.getUint32(12, true);
  const columnsAt = pad8(SAMPLES_HEADER_BYTES + defBytes);
  if (columnsAt + count * 20 !== payload.length) throw corrupt('length does not match header');
  const keys: string[] = [];
  let p = SAMPLES_HEADER_BYTES;
  const defsEnd = SAMPLES_HEADER_BYTES + defBytes;
  for (let i = 0; i < defCount; i++) {
    if (p + 2 > defsEnd) throw corrupt('keys overrun');
    const len = view.getUint16(p, true);
    if (p + 2 + len > defsEnd) throw corrupt('key overruns');
    keys.push(utf8Decoder.decode(payload.subarray(p + 2, p + 2 + len)));
    p += 2 + len;
  }
  // Typed-array views need 8-byte alignment; copy only when the payload is misaligned.
  const aligned = (payload.byteOffset + columnsAt) % 8 === 0 ? payload : payload.slice();
  const base = aligned.byteOffset + columnsAt;
  const seriesIds = new Uint32Array(aligned.buffer, base + count * 16, count);
  for (let i = 0; i < count; i++) {
    if (seriesIds[i] >= defCount) throw corrupt('point names an undefined series');
  }
  return {
    keys,
    timestamps: new Float64Array(aligned.buffer, base, count),
    values: new Float64Array(aligned.buffer, base + count * 8, count),
    seriesIds,
  };
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

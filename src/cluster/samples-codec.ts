import { PointBatch } from '../model/batch.js';
import { CountError } from '../model/errors.js';
import type { Samples } from '../model/point.js';
import { decodeSamplesRecord, encodeSamplesRecord } from '../storage/wal-records.js';

/**
 * Byte encodings of points for data-plane messages (msgpackr carries them as binary, so a batch
 * costs three typed-array copies, no per-point objects). Batches reuse the WAL's SAMPLES record
 * layout: self-contained, checked on decode, and what the receiving engine would write anyway.
 */
export function encodeBatch(batch: PointBatch): Uint8Array {
  return encodeSamplesRecord(
    batch.series,
    batch.seriesIndex,
    batch.timestamps,
    batch.values,
    batch.length,
  );
}

/** Decodes a batch from a peer; throws CountError('invalid_body') on a malformed payload. */
export function decodeBatch(bytes: unknown): PointBatch {
  if (!(bytes instanceof Uint8Array)) {
    throw new CountError('invalid_body', 'data message: the batch must be binary');
  }
  let record: ReturnType<typeof decodeSamplesRecord>;
  try {
    // A copy aligns the columns (a frame decoder may hand out a view at any offset, and a
    // Buffer's slice() is a view, so the record decoder's own realignment would not help).
    record = decodeSamplesRecord(bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes));
  } catch (e) {
    throw new CountError('invalid_body', 'data message: malformed batch', { cause: e });
  }
  const n = record.timestamps.length;
  const batch = new PointBatch(n);
  for (const key of record.keys) batch.seriesId(key);
  batch.seriesIndex.set(record.seriesIds);
  batch.timestamps.set(record.timestamps);
  batch.values.set(record.values);
  batch.length = n;
  return batch;
}

/** Samples as bytes: f64 timestamps then f64 values, little-endian. */
export function encodeSamples(s: Samples): Uint8Array {
  const n = s.timestamps.length;
  const out = new Float64Array(2 * n);
  out.set(s.timestamps, 0);
  out.set(s.values, n);
  return new Uint8Array(out.buffer);
}

export function decodeSamples(bytes: unknown): Samples {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength % 16 !== 0) {
    throw new CountError('invalid_body', 'data message: malformed points');
  }
  const n = bytes.byteLength / 16;
  // Copy: the bytes may sit at an unaligned offset of a larger frame buffer.
  const copy = new Float64Array(2 * n);
  new Uint8Array(copy.buffer).set(bytes);
  return { timestamps: copy.subarray(0, n), values: copy.subarray(n) };
}

/** Float64 columns as bytes (partial aggregates), and back. */
export function encodeColumn(c: Float64Array): Uint8Array {
  return new Uint8Array(c.buffer, c.byteOffset, c.byteLength).slice();
}

export function decodeColumn(bytes: unknown, length: number): Float64Array {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length * 8) {
    throw new CountError('invalid_body', 'data message: malformed column');
  }
  const out = new Float64Array(length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

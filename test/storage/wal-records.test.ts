import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSamplesRecord,
  decodeTombstoneRecord,
  encodeSamplesRecord,
  encodeTombstoneRecord,
  WAL_RECORD_TOMBSTONE,
  walRecordKind,
} from '../../src/storage/wal-records.js';

describe('WAL records', () => {
  it('round-trips samples records bit for bit, aligned or not', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 30 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.double(), fc.nat(2 ** 40)), { maxLength: 50 }),
        fc.nat(7),
        (keys, pts, shift) => {
          const ids = new Uint32Array(pts.map(([k]) => k % keys.length));
          const ts = new Float64Array(pts.map(([, , t]) => t));
          const vs = new Float64Array(pts.map(([, v]) => v));
          const rec = encodeSamplesRecord(keys, ids, ts, vs, pts.length);
          // The WAL may hand the payload back at any byte offset.
          const shifted = new Uint8Array(rec.length + shift);
          shifted.set(rec, shift);
          const d = decodeSamplesRecord(shifted.subarray(shift));
          expect(d.keys).toEqual(keys);
          expect(Array.from(d.seriesIds)).toEqual(Array.from(ids));
          expect(Array.from(d.timestamps)).toEqual(Array.from(ts));
          expect(new Uint8Array(d.values.buffer, d.values.byteOffset, d.values.byteLength)).toEqual(
            new Uint8Array(vs.buffer),
          );
        },
      ),
    );
  });

  it('round-trips tombstones', () => {
    const rec = encodeTombstoneRecord({ key: 'cpu{host="é"}', maxBlockSeq: 41 });
    expect(walRecordKind(rec)).toBe(WAL_RECORD_TOMBSTONE);
    expect(decodeTombstoneRecord(rec)).toEqual({ key: 'cpu{host="é"}', maxBlockSeq: 41 });
  });

  it('refuses damaged records with corrupt_data', () => {
    const rec = encodeSamplesRecord(
      ['a'],
      new Uint32Array([0]),
      new Float64Array([1]),
      new Float64Array([2]),
      1,
    );
    expect(() => decodeSamplesRecord(rec.subarray(0, rec.length - 1))).toThrow(
      expect.objectContaining({ code: 'corrupt_data' }),
    );
    const badId = rec.slice();
    badId[badId.length - 4] = 9;
    expect(() => decodeSamplesRecord(badId)).toThrow(
      expect.objectContaining({ code: 'corrupt_data' }),
    );
    expect(() => decodeTombstoneRecord(rec)).toThrow(
      expect.objectContaining({ code: 'corrupt_data' }),
    );
  });
});

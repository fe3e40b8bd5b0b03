import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import type { Vfs } from '../../src/storage/vfs.js';
import { Wal } from '../../src/storage/wal.js';
import {
  decodeRefSamplesRecord,
  encodeRefSamplesRecord,
  RefTable,
  refDefBytes,
  refSamplesRecordBytes,
  WAL_RECORD_REF_SAMPLES,
  walRecordKind,
} from '../../src/storage/wal-records.js';
import { batchOf, HOUR, ManualEnv } from './engine-test-env.js';

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (2 * HOUR));
const utf8 = new TextEncoder();

/** The REF_SAMPLES records of the WAL under `vfs`, with their segment, in log order. */
async function walRecords(vfs: Vfs): Promise<Array<{ segment: number; defKeys: string[] }>> {
  const wal = await Wal.open(new ManualEnv(vfs, T0), {
    dir: 'wal',
    fsync: 'batch',
    fsyncIntervalMs: 1000,
    segmentBytes: 64 * 1024 * 1024,
  });
  const out: Array<{ segment: number; defKeys: string[] }> = [];
  await wal.replay(0, (payload, segment) => {
    if (walRecordKind(payload) === WAL_RECORD_REF_SAMPLES) {
      out.push({ segment, defKeys: decodeRefSamplesRecord(payload).defKeys });
    }
  });
  return out;
}

function batchFor(keys: string[], t: number, v: number) {
  return batchOf(keys.map((k, i) => [k, t, v + i]));
}

async function expectAll(
  e: Awaited<ReturnType<typeof openEngine>>,
  keys: string[],
  times: number[],
): Promise<void> {
  for (const [i, k] of keys.entries()) {
    const r = await e.readRange(k, 0, T0 * 2);
    expect(Array.from(r.timestamps), k).toEqual(times);
    expect(Array.from(r.values), k).toEqual(times.map((_, j) => j * 100 + i));
  }
}

describe('WAL REF_SAMPLES records', () => {
  it('round-trip defs and columns bit for bit, aligned or not', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ maxLength: 30 }), { maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.double(), fc.nat(2 ** 40)), { maxLength: 50 }),
        fc.nat(7),
        fc.nat(1000),
        (keys, pts, shift, firstRef) => {
          const defKeys = keys.map((k) => utf8.encode(k));
          const defRefs = new Uint32Array(keys.map((_, i) => firstRef + i));
          let defBytes = 0;
          for (const kb of defKeys) defBytes += refDefBytes(kb.length);
          const refs = new Uint32Array(pts.map(([r]) => r));
          const ts = new Float64Array(pts.map(([, , t]) => t));
          const vs = new Float64Array(pts.map(([, v]) => v));
          const rec = encodeRefSamplesRecord(
            defRefs,
            defKeys,
            keys.length,
            defBytes,
            refs,
            ts,
            vs,
            pts.length,
          );
          expect(rec.length).toBe(refSamplesRecordBytes(defBytes, pts.length));
          const shifted = new Uint8Array(rec.length + shift);
          shifted.set(rec, shift);
          const d = decodeRefSamplesRecord(shifted.subarray(shift));
          expect(d.defKeys).toEqual(keys);
          expect(Array.from(d.defRefs)).toEqual(Array.from(defRefs));
          expect(Array.from(d.refs)).toEqual(Array.from(refs));
          expect(Array.from(d.timestamps)).toEqual(Array.from(ts));
          expect(new Uint8Array(d.values.buffer, d.values.byteOffset, d.values.byteLength)).toEqual(
            new Uint8Array(vs.buffer),
          );
        },
      ),
    );
  });

  it('rejects a truncated record and a ref used before its definition in the segment', () => {
    const kb = utf8.encode('cpu');
    const rec = encodeRefSamplesRecord(
      new Uint32Array([7]),
      [kb],
      1,
      refDefBytes(kb.length),
      new Uint32Array([7]),
      new Float64Array([1]),
      new Float64Array([2]),
      1,
    );
    expect(() => decodeRefSamplesRecord(rec.subarray(0, rec.length - 1))).toThrow(CountError);
    const table = new RefTable();
    table.enterSegment(3);
    table.define(7, 'cpu');
    expect(table.key(7)).toBe('cpu');
    table.enterSegment(3);
    expect(table.key(7)).toBe('cpu');
    // A new segment forgets every ref: its records must define them again.
    table.enterSegment(4);
    expect(() => table.key(7)).toThrow(/before its definition/);
  });
});

describe('engine WAL refs', () => {
  const keys = ['cpu{host="a"}', 'cpu{host="b"}', 'mem{host="a"}'];

  it('defines a key once per segment and recovers through records that only name refs', async () => {
    const mem = new MemoryVfs();
    const e = await openEngine(new ManualEnv(mem, T0 + HOUR));
    const times: number[] = [];
    for (let j = 0; j < 4; j++) {
      await e.write(batchFor(keys, T0 + j * 1000, j * 100));
      times.push(T0 + j * 1000);
    }
    mem.crash();
    const recs = await walRecords(mem);
    expect(recs.map((r) => r.defKeys.length)).toEqual([3, 0, 0, 0]);
    expect(new Set(recs.map((r) => r.segment)).size).toBe(1);
    const e2 = await openEngine(new ManualEnv(mem.view(), T0 + HOUR));
    await expectAll(e2, keys, times);
    // After recovery the WAL goes on in a new segment, which defines the keys again.
    await e2.write(batchFor(keys, T0 + 4 * 1000, 400));
    times.push(T0 + 4000);
    mem.crash();
    const after = await walRecords(mem);
    expect(after[after.length - 1].defKeys).toEqual(keys);
    const e3 = await openEngine(new ManualEnv(mem.view(), T0 + HOUR));
    await expectAll(e3, keys, times);
    await e3.close();
  });

  it('replays after a rotate: a checkpoint starts a segment that defines its keys again', async () => {
    for (const how of ['flush', 'checkpoint'] as const) {
      const mem = new MemoryVfs();
      // `checkpoint`: past walCheckpointBytes maintenance rotates and checkpoints without a cut,
      // so the head series (and their refs of the old segment) live on.
      const opts = { walCheckpointBytes: 1024 };
      const e = await openEngine(new ManualEnv(mem, T0 + HOUR), opts);
      const times: number[] = [];
      for (let j = 0; j < 20; j++) {
        await e.write(batchFor(keys, T0 + j * 1000, j * 100));
        times.push(T0 + j * 1000);
      }
      if (how === 'flush') await e.flush();
      else await e.maintain();
      expect(e.stats().blocks, how).toBe(how === 'flush' ? 1 : 0);
      for (let j = 20; j < 23; j++) {
        await e.write(batchFor(keys, T0 + j * 1000, j * 100));
        times.push(T0 + j * 1000);
      }
      mem.crash();
      const recs = await walRecords(mem);
      expect(
        recs.map((r) => r.defKeys.length),
        how,
      ).toEqual([3, 0, 0]);
      const e2 = await openEngine(new ManualEnv(mem.view(), T0 + HOUR), opts);
      await expectAll(e2, keys, times);
      await e2.close();
    }
  });

  it('redefines keys in each segment when records roll over small segments, and after a delete', async () => {
    const mem = new MemoryVfs();
    const opts = { walSegmentBytes: 1024 };
    const e = await openEngine(new ManualEnv(mem, T0 + HOUR), opts);
    const times: number[] = [];
    for (let j = 0; j < 40; j++) {
      await e.write(batchFor(keys, T0 + j * 1000, j * 100));
      times.push(T0 + j * 1000);
    }
    // A delete drops the head series; the key's next use defines it again in the same segment.
    await e.deleteSeries('gone');
    await e.write(batchOf([['gone', T0, 1]]));
    await e.deleteSeries('gone');
    await e.write(batchOf([['gone', T0 + 1, 2]]));
    mem.crash();
    const recs = await walRecords(mem);
    const segments = new Set(recs.map((r) => r.segment));
    expect(segments.size).toBeGreaterThan(3);
    // The first record of every segment defines the keys it uses.
    const seen = new Set<number>();
    for (const r of recs) {
      if (!seen.has(r.segment) && r.defKeys.length > 0) seen.add(r.segment);
    }
    expect(seen).toEqual(segments);
    const e2 = await openEngine(new ManualEnv(mem.view(), T0 + HOUR), opts);
    await expectAll(e2, keys, times);
    const gone = await e2.readRange('gone', 0, T0 * 2);
    expect(Array.from(gone.timestamps)).toEqual([T0 + 1]);
    expect(Array.from(gone.values)).toEqual([2]);
    await e2.close();
  });
});

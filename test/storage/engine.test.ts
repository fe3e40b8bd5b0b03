import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { batchOf, HOUR, ManualEnv } from './engine-test-env.js';

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (2 * HOUR));

function points(s: { timestamps: Float64Array; values: Float64Array }): Array<[number, number]> {
  return Array.from(s.timestamps, (t, i) => [t, s.values[i]]);
}

describe('storage engine', () => {
  it('reads back what it wrote, across head, flush and reopen', async () => {
    const mem = new MemoryVfs();
    const env = new ManualEnv(mem, T0 + 10 * HOUR);
    const e = await openEngine(env);
    const pts: Array<[string, number, number]> = [];
    for (let i = 0; i < 1000; i++) pts.push(['cpu{host="a"}', T0 + i * 10_000, i]);
    await e.write(batchOf(pts));
    expect(points(await e.readRange('cpu{host="a"}', T0, T0 + 5000 * 10_000))).toHaveLength(1000);
    await e.flush();
    expect(e.stats().blocks).toBe(2);
    expect(e.stats().headPoints).toBe(0);
    const r = await e.readRange('cpu{host="a"}', T0 + 100 * 10_000, T0 + 200 * 10_000);
    expect(points(r)).toEqual(pts.slice(100, 200).map(([, t, v]) => [t, v]));
    await e.close();
    const e2 = await openEngine(new ManualEnv(mem, T0 + 10 * HOUR));
    expect(points(await e2.readRange('cpu{host="a"}', 0, T0 * 2))).toEqual(
      pts.map(([, t, v]) => [t, v]),
    );
    expect(await e2.select([{ name: '__name__', op: '=', value: 'cpu' }])).toEqual([
      'cpu{host="a"}',
    ]);
    await e2.close();
  });

  it('resolves duplicates by the larger value in head, blocks and across them', async () => {
    const mem = new MemoryVfs();
    const e = await openEngine(new ManualEnv(mem, T0));
    await e.write(
      batchOf([
        ['m', T0 + 1, 5],
        ['m', T0 + 1, 3],
        ['m', T0 + 2, 1],
      ]),
    );
    await e.write(
      batchOf([
        ['m', T0 + 1, 4],
        ['m', T0 + 2, 7],
      ]),
    );
    expect(points(await e.readRange('m', T0, T0 + 10))).toEqual([
      [T0 + 1, 5],
      [T0 + 2, 7],
    ]);
    await e.flush();
    await e.write(
      batchOf([
        ['m', T0 + 1, 9],
        ['m', T0 + 2, 2],
      ]),
    );
    expect(points(await e.readRange('m', T0, T0 + 10))).toEqual([
      [T0 + 1, 9],
      [T0 + 2, 7],
    ]);
    await e.flush();
    await e.compact();
    expect(e.stats().blocks).toBe(1);
    expect(points(await e.readRange('m', T0, T0 + 10))).toEqual([
      [T0 + 1, 9],
      [T0 + 2, 7],
    ]);
    await e.close();
  });

  it('rejects a batch with one point outside the window and writes nothing of it', async () => {
    const e = await openEngine(new ManualEnv(new MemoryVfs(), T0 + 5 * HOUR), {
      outOfOrderWindowMs: HOUR,
    });
    await e.write(batchOf([['a', T0 + 3 * HOUR, 1]]));
    // 30 min late: accepted; 90 min late: rejected, with the good points of its batch.
    await e.write(batchOf([['a', T0 + 2.5 * HOUR, 2]]));
    const bad = batchOf([
      ['b', T0 + 3 * HOUR, 1],
      ['a', T0 + 1.5 * HOUR, 3],
      ['a', T0 + 3 * HOUR + 1, 4],
    ]);
    await expect(e.write(bad)).rejects.toMatchObject({
      code: 'timestamp_out_of_window',
      field: 'points[1].timestamp',
    });
    expect(points(await e.readRange('a', 0, T0 * 2))).toEqual([
      [T0 + 2.5 * HOUR, 2],
      [T0 + 3 * HOUR, 1],
    ]);
    expect(points(await e.readRange('b', 0, T0 * 2))).toEqual([]);
    expect(await e.select([{ name: '__name__', op: '=', value: 'b' }])).toEqual([]);
    await expect(e.write(batchOf([['a', T0 + 3 * HOUR + 0.5, 1]]))).rejects.toMatchObject({
      code: 'invalid_timestamp',
    });
    // The future guard: a point more than maxFutureMs ahead of the clock.
    await expect(e.write(batchOf([['a', T0 + 5 * HOUR + 25 * HOUR, 1]]))).rejects.toMatchObject({
      code: 'timestamp_out_of_window',
    });
    await e.close();
  });

  it('keeps taking present writes after a point from a clock ahead (within maxFutureMs)', async () => {
    const env = new ManualEnv(new MemoryVfs(), T0 + 5 * HOUR);
    const e = await openEngine(env, { outOfOrderWindowMs: HOUR, blockRangeMs: HOUR });
    await e.write(batchOf([['a', T0 + 5 * HOUR - 60_000, 1]]));
    // One client's clock is 3 h ahead: accepted (maxFutureMs is 24 h by default)...
    await e.write(batchOf([['skewed', T0 + 8 * HOUR, 1]]));
    // ...and the present must still be writable, for every series.
    await e.write(batchOf([['a', T0 + 5 * HOUR - 30_000, 2]]));
    await e.write(batchOf([['b', T0 + 5 * HOUR - 45 * 60_000, 3]]));
    // The window counts back from the clock then: 90 min before it is still too old.
    await expect(e.write(batchOf([['a', T0 + 3.5 * HOUR, 4]]))).rejects.toMatchObject({
      code: 'timestamp_out_of_window',
    });
    expect(points(await e.readRange('a', 0, T0 * 2))).toEqual([
      [T0 + 5 * HOUR - 60_000, 1],
      [T0 + 5 * HOUR - 30_000, 2],
    ]);
    expect(points(await e.readRange('b', 0, T0 * 2))).toEqual([[T0 + 5 * HOUR - 45 * 60_000, 3]]);
    await e.close();
  });

  it('changes nothing for a write or delete the WAL refuses up front (after an fsync failure)', async () => {
    const mem = new MemoryVfs();
    const e = await openEngine(new ManualEnv(mem.view(), T0 + HOUR));
    await e.write(batchOf([['a', T0, 1]]));
    mem.setFaults({ syncFailures: 1, pathPrefix: 'wal/' });
    // This write's fsync fails: its outcome is unknown, so nothing is asserted about it.
    await expect(e.write(batchOf([['a', T0 + 1, 2]]))).rejects.toMatchObject({ code: 'internal' });
    // The WAL now refuses every append: these must leave the head untouched.
    await expect(
      e.write(
        batchOf([
          ['a', T0 + 2, 3],
          ['c', T0 + 2, 3],
        ]),
      ),
    ).rejects.toMatchObject({
      code: 'internal',
    });
    await expect(e.deleteSeries('a')).rejects.toMatchObject({ code: 'internal' });
    const got = points(await e.readRange('a', 0, T0 * 2)).filter(([t]) => t !== T0 + 1);
    expect(got).toEqual([[T0, 1]]);
    expect(points(await e.readRange('c', 0, T0 * 2))).toEqual([]);
    expect(await e.select([{ name: '__name__', op: '=~', value: '.+' }])).toEqual(['a']);
    await e.close().catch(() => undefined);
  });

  it('fails writes with memory_limit_exceeded past the limit, and accepts them after a flush', async () => {
    const e = await openEngine(new ManualEnv(new MemoryVfs(), T0), {
      headMemoryLimitBytes: 200_000,
    });
    let t = T0;
    let err: unknown;
    let accepted = 0;
    for (let i = 0; i < 200 && err === undefined; i++) {
      const pts: Array<[string, number, number]> = [];
      for (let s = 0; s < 20; s++)
        for (let k = 0; k < 10; k++) pts.push([`s${s}`, t + k, Math.sin(t + k) * 1e6]);
      await e.write(batchOf(pts)).then(
        () => {
          accepted += 10;
          t += 10;
        },
        (x) => {
          err = x;
        },
      );
    }
    expect(err).toBeInstanceOf(CountError);
    expect(err).toMatchObject({ code: 'memory_limit_exceeded', retryable: true });
    expect((err as CountError).retryAfterSeconds).toBeGreaterThan(0);
    expect(e.stats().headBytes).toBeLessThanOrEqual(200_000);
    await e.maintain();
    expect(e.stats().headBytes).toBeLessThan(100_000);
    await e.write(batchOf([['s0', t, 1]]));
    expect((await e.readRange('s0', T0, t + 1)).timestamps.length).toBe(accepted + 1);
    await e.close();
  });

  it('cuts the head to blocks from its timer once it spans 1.5 block ranges', async () => {
    const env = new ManualEnv(new MemoryVfs(), T0 + 5 * HOUR);
    // A compaction range so long that the background round leaves the new blocks alone.
    const e = await openEngine(env, {
      blockRangeMs: HOUR,
      maintenanceIntervalMs: 60_000,
      compactionRangesMs: [1000 * HOUR],
    });
    for (let m = 0; m < 4 * 60; m += 10) await e.write(batchOf([['s', T0 + m * 60_000, m]]));
    expect(e.stats().blocks).toBe(0);
    // The write that made the cut due asked for a round at once (a 0 ms timer).
    expect(env.fireDue()).toBeGreaterThan(0);
    for (let i = 0; i < 1000 && e.stats().blocks === 0; i++)
      await new Promise((r) => setImmediate(r));
    // Newest point 3h50m: the head keeps at most 1.5 ranges, so windows before 3h go.
    expect(e.stats().blocks).toBe(3);
    expect(e.lastMaintenanceError).toBeUndefined();
    expect(e.stats().headPoints).toBe(6);
    expect((await e.readRange('s', T0, T0 + 5 * HOUR)).timestamps.length).toBe(24);
    await e.close();
  });

  it('keeps acknowledged writes in always and interval modes across close and reopen', async () => {
    for (const fsync of ['always', 'interval'] as const) {
      const mem = new MemoryVfs();
      const e = await openEngine(new ManualEnv(mem.view(), T0), { fsync, fsyncIntervalMs: 50 });
      await Promise.all([1, 2, 3].map((i) => e.write(batchOf([['s', T0 + i, i]]))));
      await e.close();
      await expect(e.write(batchOf([['s', T0 + 9, 9]]))).rejects.toMatchObject({
        code: 'shutting_down',
      });
      mem.crash();
      const e2 = await openEngine(new ManualEnv(mem.view(), T0), { fsync });
      expect(Array.from((await e2.readRange('s', T0, T0 + 10)).values)).toEqual([1, 2, 3]);
      await e2.close();
    }
  });

  it('checkpoints the head when the WAL grows past walCheckpointBytes, so the WAL shrinks', async () => {
    const mem = new MemoryVfs();
    const opts = { walCheckpointBytes: 64 * 1024, walSegmentBytes: 16 * 1024 };
    const e = await openEngine(new ManualEnv(mem.view(), T0), opts);
    const pts: Array<[string, number, number]> = [];
    for (let i = 0; i < 5000; i++) pts.push([`s${i % 10}`, T0 + i, i]);
    for (let b = 0; b < 5; b++) await e.write(batchOf(pts.slice(b * 1000, (b + 1) * 1000)));
    expect(e.stats().walBytes).toBeGreaterThan(64 * 1024);
    await e.maintain();
    expect(e.stats().walBytes).toBeLessThan(16 * 1024);
    expect(e.stats().blocks).toBe(0);
    mem.crash();
    const e2 = await openEngine(new ManualEnv(mem.view(), T0), opts);
    const got = await e2.readRange('s3', T0, T0 + 5000);
    expect(Array.from(got.timestamps)).toEqual(pts.filter(([k]) => k === 's3').map(([, t]) => t));
    await e2.close();
  });
});

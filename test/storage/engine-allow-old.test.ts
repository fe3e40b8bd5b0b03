import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { Block } from '../../src/storage/block-reader.js';
import { BLOCKS_DIR, openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { joinPath, type Vfs } from '../../src/storage/vfs.js';
import { CrashAtOpVfs } from './crash-vfs.js';
import { batchOf, HOUR, ManualEnv } from './engine-test-env.js';
import { seeded } from './seeded-random.js';

/**
 * The `allowOld` write option (repair data older than the out-of-order window): accepted only
 * on that path, still validated, readable at once, durable through crashes, and cut into
 * blocks of its own windows without disturbing the head's in-window data.
 */

/** Two days before "now" of these tests: far outside the 1 h out-of-order window. */
const OLD = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);
const NOW = OLD + 48 * HOUR;
const OPTS = { blockRangeMs: HOUR, outOfOrderWindowMs: HOUR, maxPointsPerChunk: 16 };
const KEY = 'cpu{host="a"}';

function pointsOf(s: { timestamps: Float64Array; values: Float64Array }): Array<[number, number]> {
  return Array.from(s.timestamps, (t, i) => [t, s.values[i]]);
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof CountError ? e.code : String(e);
  }
  return 'ok';
}

/** Window [start, end) of every block on disk, sorted. */
async function blockWindows(vfs: Vfs): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  for (const name of await vfs.list(BLOCKS_DIR)) {
    const b = await Block.open(vfs, joinPath(BLOCKS_DIR, name));
    if (b === undefined) continue;
    out.push([b.meta.start, b.meta.end]);
    b.retire();
  }
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

function disjoint(windows: Array<[number, number]>): boolean {
  for (let i = 1; i < windows.length; i++) if (windows[i][0] < windows[i - 1][1]) return false;
  return true;
}

function sorted(m: Map<number, number>): Array<[number, number]> {
  return [...m].sort((a, b) => a[0] - b[0]);
}

describe('write with allowOld', () => {
  it('is the only way in for old points, which are then readable at once; the rest of validation holds', async () => {
    const mem = new MemoryVfs({ random: seeded(1) });
    const e = await openEngine(new ManualEnv(mem.view(), NOW), OPTS);
    await e.write(batchOf([[KEY, NOW - 60_000, 1]]));
    const old = batchOf([
      [KEY, OLD + 1000, 2],
      [KEY, OLD + 2000, 3],
    ]);
    expect(await code(e.write(old))).toBe('timestamp_out_of_window');
    expect(await code(e.write(old, { allowOld: false }))).toBe('timestamp_out_of_window');
    expect(pointsOf(await e.readRange(KEY, 0, NOW))).toEqual([[NOW - 60_000, 1]]);
    await e.write(old, { allowOld: true });
    expect(pointsOf(await e.readRange(KEY, 0, NOW))).toEqual([
      [OLD + 1000, 2],
      [OLD + 2000, 3],
      [NOW - 60_000, 1],
    ]);
    // Future, invalid and oversized batches are refused as before, changing nothing.
    const future = batchOf([
      [KEY, OLD + 3000, 4],
      [KEY, NOW + 25 * HOUR, 5],
    ]);
    expect(await code(e.write(future, { allowOld: true }))).toBe('timestamp_out_of_window');
    expect(await code(e.write(batchOf([[KEY, 1.5, 1]]), { allowOld: true }))).toBe(
      'invalid_timestamp',
    );
    expect(await code(e.write(batchOf([['not canonical', OLD, 1]]), { allowOld: true }))).toBe(
      'invalid_series',
    );
    expect((await e.readRange(KEY, 0, NOW + 30 * HOUR)).timestamps.length).toBe(3);
    // Old points do not move the window clients write in.
    expect(await code(e.write(batchOf([[KEY, NOW - 2 * HOUR, 1]])))).toBe(
      'timestamp_out_of_window',
    );
    await e.close();
  });

  it('is bounded by the head memory limit like any write', async () => {
    const e = await openEngine(new ManualEnv(new MemoryVfs().view(), NOW), {
      ...OPTS,
      headMemoryLimitBytes: 64 * 1024,
    });
    let refused = '';
    for (let i = 0; i < 200 && refused === ''; i++) {
      const pts: Array<[string, number, number]> = [];
      for (let j = 0; j < 100; j++) pts.push([`m{i="${i}"}`, OLD + j * 1000, j]);
      const r = await code(e.write(batchOf(pts), { allowOld: true }));
      if (r !== 'ok') refused = r;
    }
    expect(refused).toBe('memory_limit_exceeded');
    expect(e.stats().headBytes).toBeLessThanOrEqual(64 * 1024);
    await e.close();
  });

  it('lands old points in blocks of their own windows, beside blocks already there, and compaction merges them', async () => {
    const mem = new MemoryVfs({ random: seeded(2) });
    const env = new ManualEnv(mem.view(), NOW);
    const e = await openEngine(env, OPTS);
    const want = new Map<number, number>();
    const put = async (pts: Array<[number, number]>, allowOld: boolean) => {
      await e.write(batchOf(pts.map(([t, v]) => [KEY, t, v])), allowOld ? { allowOld } : undefined);
      for (const [t, v] of pts) want.set(t, v);
    };
    // Old data of window OLD..OLD+1h, flushed into its block.
    await put(
      Array.from({ length: 50 }, (_, i) => [OLD + i * 60_000, i]),
      true,
    );
    await e.flush();
    expect(await blockWindows(mem.view())).toEqual([[OLD, OLD + HOUR]]);
    // Client data near now stays in the head while more old data (two windows, one of them
    // already on disk) arrives out of order and a maintenance round runs: the head spans more
    // than 1.5 ranges, so the old windows are cut into their own blocks.
    await put(
      Array.from({ length: 20 }, (_, i) => [NOW - 20 * 60_000 + i * 60_000, 1000 + i]),
      false,
    );
    await put(
      Array.from({ length: 60 }, (_, i) => [OLD + 30_000 + i * 90_000, 2000 + i]),
      true,
    );
    await e.maintain();
    // The round also compacted the old windows (they are past the fresh boundary).
    const cut = await blockWindows(mem.view());
    expect(cut.some(([s, end]) => s <= OLD + HOUR && end >= OLD + 2 * HOUR)).toBe(true);
    expect(disjoint(cut)).toBe(true);
    expect(cut.every(([, end]) => end <= NOW - HOUR)).toBe(true);
    // The client data is still in the head (in-window data is not cut early).
    expect(e.stats().headPoints).toBe(20);
    const all = () => e.readRange(KEY, 0, NOW + HOUR);
    expect(pointsOf(await all())).toEqual(sorted(want));
    // More old data for a window on disk: flush writes a second, overlapping block...
    await put(
      Array.from({ length: 30 }, (_, i) => [OLD + 45_000 + i * 60_000, 3000 + i]),
      true,
    );
    await e.flush();
    const overlapping = await blockWindows(mem.view());
    expect(disjoint(overlapping)).toBe(false);
    expect(pointsOf(await all())).toEqual(sorted(want));
    // ...which compaction merges.
    await e.compact();
    const merged = await blockWindows(mem.view());
    expect(merged.length).toBeLessThan(overlapping.length);
    expect(disjoint(merged)).toBe(true);
    const expected = sorted(want);
    expect(pointsOf(await all())).toEqual(expected);
    await e.close();
    // Restart: everything is in blocks and reads the same.
    const e2 = await openEngine(new ManualEnv(mem.view(), NOW), OPTS);
    expect(pointsOf(await e2.readRange(KEY, 0, NOW + HOUR))).toEqual(expected);
    expect(e2.stats().headPoints).toBe(0);
    await e2.close();
  });

  it('keeps every acknowledged old point when the disk crashes at a random operation', async () => {
    const rnd = seeded(11);
    let totalOld = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const dry = await crashRun(seed, Number.POSITIVE_INFINITY);
      expect(dry.oldAcked).toBeGreaterThan(0);
      for (let k = 0; k < 4; k++) {
        totalOld += (await crashRun(seed, 1 + Math.floor(rnd() * dry.ops))).oldAcked;
      }
    }
    expect(totalOld).toBeGreaterThan(0);
  });

  it('recovers from a crash at every single operation of a flush and a compaction of old data', async () => {
    const series = ['a{x="1"}', 'a{x="2"}'];
    const pts = (from: number, n: number, v: number): Array<[string, number, number]> =>
      Array.from({ length: n }, (_, i) => [series[i % 2], from + i * 60_000, v + i]);
    const fresh = pts(NOW - 40 * 60_000, 30, 0);
    const oldA = pts(OLD, 90, 100);
    const oldB = pts(OLD + 30_000, 90, 1000);
    const run = async (k: number, step: 'flush' | 'compact'): Promise<boolean> => {
      const mem = new MemoryVfs({ random: seeded(k) });
      const setup = await openEngine(new ManualEnv(mem.view(), NOW), OPTS);
      await setup.write(batchOf(oldA), { allowOld: true });
      await setup.flush();
      await setup.write(batchOf(fresh));
      await setup.write(batchOf(oldB), { allowOld: true });
      if (step === 'compact') await setup.flush();
      await setup.close();
      const vfs = new CrashAtOpVfs(mem, k);
      try {
        const e = await openEngine(new ManualEnv(vfs, NOW), OPTS);
        await (step === 'flush' ? e.flush() : e.compact());
      } catch {
        // the crash
      }
      const done = !vfs.crashed;
      vfs.crashNow();
      const e2 = await openEngine(new ManualEnv(mem.view(), NOW), OPTS);
      for (const s of series) {
        const want = [...oldA, ...oldB, ...fresh]
          .filter((p) => p[0] === s)
          .map((p) => p[1])
          .sort((a, b) => a - b);
        expect(Array.from((await e2.readRange(s, 0, NOW + HOUR)).timestamps)).toEqual(want);
      }
      // Still refuses client writes of old points after recovery, still takes repair ones.
      expect(await code(e2.write(batchOf([[series[0], OLD + 1, 1]])))).toBe(
        'timestamp_out_of_window',
      );
      await e2.write(batchOf([[series[0], OLD + 1, 1]]), { allowOld: true });
      await e2.close();
      return done;
    };
    for (const step of ['flush', 'compact'] as const) {
      let k = 1;
      while (!(await run(k, step))) k++;
      expect(k).toBeGreaterThan(20);
    }
  });
});

const CRASH_SERIES = ['cpu{host="a"}', 'cpu{host="b"}', 'mem{host="a"}'];

/**
 * A random workload of client writes near now and concurrent repair writes of points two days
 * old (several windows, some already on disk), with flushes, compactions and maintenance, on a
 * disk that crashes at operation `crashAt`. After reopening, every acknowledged point is there
 * with its value and every point there was written.
 */
async function crashRun(seed: number, crashAt: number): Promise<{ oldAcked: number; ops: number }> {
  const rnd = seeded(seed);
  const mem = new MemoryVfs({ random: seeded(seed ^ 0x2545f491) });
  const vfs = new CrashAtOpVfs(mem, crashAt);
  const opts = { ...OPTS, walSegmentBytes: 4096 };
  const written = new Map<string, Map<number, number>>(CRASH_SERIES.map((s) => [s, new Map()]));
  const acked = new Map<string, Map<number, number>>(CRASH_SERIES.map((s) => [s, new Map()]));
  const next = new Map<string, number>(CRASH_SERIES.map((s) => [s, NOW - 30 * 60_000]));
  let oldAcked = 0;
  try {
    const e = await openEngine(new ManualEnv(vfs, NOW), opts);
    for (let step = 0; step < 30 && !vfs.crashed; step++) {
      const r = rnd();
      if (r < 0.1) await e.flush().catch(() => undefined);
      else if (r < 0.15) await e.compact().catch(() => undefined);
      else if (r < 0.25) await e.maintain().catch(() => undefined);
      else {
        const writes: Promise<void>[] = [];
        for (let w = 0; w < 3; w++) {
          const old = w > 0 && rnd() < 0.6;
          const pts: Array<[string, number, number]> = [];
          for (let k = 0; k < 20; k++) {
            const s = CRASH_SERIES[Math.floor(rnd() * CRASH_SERIES.length)];
            let t: number;
            if (old) {
              // Anywhere in four windows two days back; never a timestamp written before.
              t = OLD + Math.floor(rnd() * 4 * HOUR);
              if (written.get(s)!.has(t) || pts.some((p) => p[0] === s && p[1] === t)) continue;
            } else {
              t = next.get(s)! + 1 + Math.floor(rnd() * 20_000);
              next.set(s, t);
            }
            pts.push([s, t, Math.round(rnd() * 1e6) / 100]);
          }
          for (const [s, t, v] of pts) written.get(s)!.set(t, v);
          writes.push(
            e.write(batchOf(pts), old ? { allowOld: true } : undefined).then(() => {
              for (const [s, t, v] of pts) acked.get(s)!.set(t, v);
              if (old) oldAcked += pts.length;
            }),
          );
        }
        await Promise.allSettled(writes);
      }
    }
  } catch {
    // The crash hit open() or a step outside a write: what was acknowledged still counts.
  }
  vfs.crashNow();
  const ops = vfs.ops;
  const e2 = await openEngine(new ManualEnv(mem.view(), NOW), opts);
  for (const s of CRASH_SERIES) {
    const got = await e2.readRange(s, 0, NOW + HOUR);
    const have = new Map<number, number>();
    for (let i = 0; i < got.timestamps.length; i++) have.set(got.timestamps[i], got.values[i]);
    for (const [t, v] of acked.get(s)!) {
      if (have.get(t) !== v)
        throw new Error(`seed ${seed} crashAt ${crashAt}: lost ${s}@${t}=${v}`);
    }
    for (const [t, v] of have) {
      if (written.get(s)!.get(t) !== v)
        throw new Error(`seed ${seed} crashAt ${crashAt}: invented ${s}@${t}=${v}`);
    }
  }
  // The recovered engine flushes and compacts the old data into blocks of its windows.
  await e2.flush();
  await e2.compact();
  for (const [start, end] of await blockWindows(mem.view())) {
    expect(start % HOUR).toBe(0);
    expect(end - start).toBeGreaterThanOrEqual(HOUR);
  }
  await e2.close();
  return { oldAcked, ops };
}

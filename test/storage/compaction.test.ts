import { describe, expect, it } from 'vitest';
import { planCompaction } from '../../src/storage/compaction.js';
import { openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { batchOf, HOUR, ManualEnv } from './engine-test-env.js';

const T0 = 1_699_999_200_000 - (1_699_999_200_000 % (24 * HOUR));

describe('planCompaction', () => {
  const m = (id: string, start: number, end: number, level = 0) => ({ id, start, end, level });

  it('merges overlapping blocks first', () => {
    const g = planCompaction([m('a', 0, 2), m('b', 0, 2), m('c', 2, 4), m('d', 4, 6)], [6], 100);
    expect(g).toEqual([{ inputs: ['a', 'b'], start: 0, end: 2, level: 1 }]);
  });

  it('then merges blocks that fit one window of the next range, leaving fresh windows alone', () => {
    const metas = [m('a', 0, 2), m('b', 2, 4), m('c', 4, 6), m('d', 6, 8), m('e', 8, 10)];
    expect(planCompaction(metas, [6, 24], 100)).toEqual([
      { inputs: ['a', 'b', 'c'], start: 0, end: 6, level: 1 },
      { inputs: ['d', 'e'], start: 6, end: 12, level: 1 },
    ]);
    expect(planCompaction(metas, [6, 24], 8)).toEqual([
      { inputs: ['a', 'b', 'c'], start: 0, end: 6, level: 1 },
    ]);
    expect(planCompaction([m('x', 0, 6, 1), m('y', 6, 12, 1)], [6, 24], 100)).toEqual([
      { inputs: ['x', 'y'], start: 0, end: 24, level: 2 },
    ]);
    expect(planCompaction([m('x', 0, 24, 2)], [6, 24], 100)).toEqual([]);
  });
});

describe('compaction in the engine', () => {
  it('keeps the data identical and leaves fewer blocks', async () => {
    const e = await openEngine(new ManualEnv(new MemoryVfs(), T0 + 30 * HOUR));
    const keys = ['cpu{host="a"}', 'cpu{host="b"}', 'disk{host="a"}'];
    for (let h = 0; h < 24; h++) {
      const pts: Array<[string, number, number]> = [];
      for (const k of keys)
        for (let i = 0; i < 360; i++)
          pts.push([k, T0 + h * HOUR + i * 10_000, Math.sin(h * 360 + i) * 100]);
      await e.write(batchOf(pts));
      if (h % 2 === 1) await e.flush();
    }
    // Late points into an already written window make an overlapping block.
    await e.write(batchOf([['cpu{host="a"}', T0 + 23 * HOUR + 5, 1e9]]));
    await e.flush();
    const before = await Promise.all(keys.map((k) => e.readRange(k, T0, T0 + 24 * HOUR)));
    const blocksBefore = e.stats().blocks;
    expect(blocksBefore).toBe(13);
    await e.compact();
    const after = await Promise.all(keys.map((k) => e.readRange(k, T0, T0 + 24 * HOUR)));
    expect(after.map((s) => Array.from(s.timestamps))).toEqual(
      before.map((s) => Array.from(s.timestamps)),
    );
    expect(after.map((s) => Array.from(s.values))).toEqual(before.map((s) => Array.from(s.values)));
    expect(before[0].timestamps.length).toBe(24 * 360 + 1);
    expect(e.stats().blocks).toBe(1);
    expect(e.stats().compactions).toBeGreaterThan(0);
    await e.close();
  });

  it('drops tombstoned data and keeps data written after the delete', async () => {
    const mem = new MemoryVfs();
    const e = await openEngine(new ManualEnv(mem, T0 + 3 * HOUR));
    await e.write(
      batchOf([
        ['a', T0, 1],
        ['b', T0, 2],
      ]),
    );
    await e.flush();
    await e.deleteSeries('a');
    await e.write(
      batchOf([
        ['a', T0 + 1, 3],
        ['b', T0 + 1, 4],
      ]),
    );
    await e.flush();
    await e.compact();
    expect(e.stats().blocks).toBe(1);
    expect(Array.from((await e.readRange('a', T0, T0 + HOUR)).values)).toEqual([3]);
    await e.close();
    const e2 = await openEngine(new ManualEnv(mem, T0 + 3 * HOUR));
    expect(Array.from((await e2.readRange('a', T0, T0 + HOUR)).values)).toEqual([3]);
    expect(Array.from((await e2.readRange('b', T0, T0 + HOUR)).values)).toEqual([2, 4]);
    await e2.close();
  });
});

describe('retention', () => {
  it('deletes whole blocks older than the retention and forgets their series', async () => {
    const env = new ManualEnv(new MemoryVfs(), T0 + 10 * HOUR);
    const e = await openEngine(env, { retentionMs: 24 * HOUR });
    await e.write(
      batchOf([
        ['old', T0, 1],
        ['both', T0 + 1, 1],
      ]),
    );
    await e.flush();
    await e.write(batchOf([['both', T0 + 9 * HOUR, 2]]));
    await e.flush();
    expect(await e.applyRetention()).toBe(0);
    env.advance(17 * HOUR);
    // Now the first 2 h window ended more than 24 h ago; the second did not.
    expect(await e.applyRetention()).toBe(1);
    expect((await e.readRange('old', 0, T0 * 2)).timestamps.length).toBe(0);
    expect(Array.from((await e.readRange('both', 0, T0 * 2)).values)).toEqual([2]);
    expect(await e.select([{ name: '__name__', op: '=~', value: '.+' }])).toEqual(['both']);
    expect(e.stats().blocks).toBe(1);
    await e.close();
  });
});

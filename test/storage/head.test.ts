import { describe, expect, it } from 'vitest';
import { mergeSamples } from '../../src/query/merge.js';
import { lowerBound } from '../../src/query/samples-range.js';
import { Head, partsToSamples } from '../../src/storage/head.js';

const RANGE = 1000;

function readAll(h: Head, key: string) {
  const parts = h.read(key, 0, 1e9);
  const m = mergeSamples(parts);
  return Array.from(m.timestamps, (t, i) => [t, m.values[i]]);
}

describe('Head', () => {
  it('cuts chunks by point count and at block boundaries', () => {
    const h = new Head({ blockRangeMs: RANGE, maxPointsPerChunk: 4 });
    const s = h.getOrCreate('a');
    for (const t of [1, 2, 3, 4, 5, 6, 999, 1000, 1001]) h.append(s, t, t);
    // [1..4] full, [5,6,999] cut at the boundary, [1000,1001] open.
    expect(s.chunks.map((c) => [c.minTime, c.maxTime, c.count])).toEqual([
      [1, 4, 4],
      [5, 999, 3],
    ]);
    expect(s.openLen).toBe(2);
    expect(h.points).toBe(9);
    expect(readAll(h, 'a').map(([t]) => t)).toEqual([1, 2, 3, 4, 5, 6, 999, 1000, 1001]);
  });

  it('keeps out-of-order points sorted, merges duplicates by the larger value', () => {
    const h = new Head({ blockRangeMs: RANGE, maxPointsPerChunk: 3 });
    const s = h.getOrCreate('a');
    for (const [t, v] of [
      [10, 1],
      [20, 1],
      [5, 7],
      [15, 2],
      [5, 3],
      [20, 9],
      [12, 0],
      [1, 1],
      [2, 2],
    ]) {
      h.append(s, t, v);
    }
    expect(readAll(h, 'a')).toEqual([
      [1, 1],
      [2, 2],
      [5, 7],
      [10, 1],
      [12, 0],
      [15, 2],
      [20, 9],
    ]);
    // The out-of-order buffer was compressed into a chunk once it held maxPointsPerChunk points.
    expect(s.oooChunks.length).toBe(1);
  });

  it('cut() takes exactly the points before the boundary and accounts memory', () => {
    const h = new Head({ blockRangeMs: RANGE, maxPointsPerChunk: 8 });
    const a = h.getOrCreate('a');
    const b = h.getOrCreate('b');
    for (let t = 0; t < 3000; t += 50) h.append(a, t, t);
    h.append(a, 900, -1); // duplicate, smaller: ignored
    h.append(a, 925, 5); // out of order
    h.append(b, 100, 1);
    const before = h.bytes;
    const out = h.cut(2000);
    expect(h.get('b')).toBeUndefined();
    expect([...out.keys()].sort()).toEqual(['a', 'b']);
    const taken = mergeSamples(partsToSamples(out.get('a')!));
    expect(taken.timestamps.length).toBe(41);
    expect(Array.from(taken.timestamps).every((t) => t < 2000)).toBe(true);
    expect(taken.values[lowerBound(taken.timestamps, 41, 900)]).toBe(900);
    expect(readAll(h, 'a').map(([t]) => t)).toEqual(
      Array.from({ length: 20 }, (_, i) => 2000 + i * 50),
    );
    expect(h.minTime).toBe(2000);
    expect(h.points).toBe(20);
    expect(h.bytes).toBeLessThan(before);
    h.remove('a');
    expect(h.bytes).toBe(0);
    expect(h.points).toBe(0);
  });
});

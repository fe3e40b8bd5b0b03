import { describe, expect, it } from 'vitest';
import { decodeChunk } from '../../src/compression/chunk.js';
import { chunkSamples, compressChunks, Head } from '../../src/storage/head.js';

const RANGE = 7_200_000;

function fill(head: Head, keys: string[], from: number, to: number): void {
  for (let t = from; t < to; t++) {
    for (const [i, k] of keys.entries()) head.append(head.getOrCreate(k), t * 1000, t * 0.5 + i);
  }
}

describe('head: deferred chunk compression', () => {
  it('closes chunks raw and compresses them by budget, re-charging memory', () => {
    const head = new Head({ blockRangeMs: RANGE, maxPointsPerChunk: 10 });
    const keys = ['a', 'b', 'c'];
    fill(head, keys, 0, 31);
    // Each series closed three chunks of 10 points, none compressed yet.
    expect(head.uncompressedPoints).toBe(90);
    const before = head.bytes;
    head.compressSome(25);
    // Whole chunks, newest first, until the budget is reached.
    expect(head.uncompressedPoints).toBe(60);
    expect(head.bytes).toBeLessThan(before);
    head.compressSome(1000);
    expect(head.uncompressedPoints).toBe(0);
    const s = head.get('b')!;
    expect(s.chunks).toHaveLength(3);
    const d = decodeChunk(s.chunks[1].bytes);
    expect(Array.from(d.timestamps)).toEqual(Array.from({ length: 10 }, (_, i) => (10 + i) * 1000));
    expect(Array.from(d.values)).toEqual(Array.from({ length: 10 }, (_, i) => (10 + i) * 0.5 + 1));
  });

  it('reads deferred chunks raw, and a cut takes them out of the queue and the account', () => {
    const head = new Head({ blockRangeMs: RANGE, maxPointsPerChunk: 10 });
    fill(head, ['a'], 0, 25);
    const s = head.get('a')!;
    const raw = chunkSamples(s.chunks[0]);
    expect(Array.from(raw.timestamps)).toEqual(Array.from({ length: 10 }, (_, i) => i * 1000));
    const parts = head.read('a', 0, 30_000);
    expect(parts.reduce((n, p) => n + p.timestamps.length, 0)).toBe(25);
    const cut = head.cut(20_000).get('a')!;
    expect(cut.chunks).toHaveLength(2);
    const bytesAfterCut = head.bytes;
    // The queue still names the cut chunks; compressing skips them and charges nothing.
    head.compressSome(1000);
    expect(head.uncompressedPoints).toBe(0);
    expect(head.bytes).toBe(bytesAfterCut);
    // Compressing on demand (a checkpoint) gives the same points.
    compressChunks(cut.chunks);
    expect(Array.from(decodeChunk(cut.chunks[1].bytes).timestamps)).toEqual(
      Array.from({ length: 10 }, (_, i) => (10 + i) * 1000),
    );
    // A removed series' queued chunks are skipped too.
    fill(head, ['z'], 100, 125);
    head.remove('z');
    const b = head.bytes;
    head.compressSome(1000);
    expect(head.bytes).toBe(b);
    expect(head.uncompressedPoints).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeChunk, encodeChunk } from '../../src/compression/chunk.js';
import {
  CHECKPOINT_DIR,
  loadLatestCheckpoint,
  removeCheckpointsBefore,
  writeCheckpoint,
} from '../../src/storage/checkpoint.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { joinPath } from '../../src/storage/vfs.js';

const ts = new Float64Array([1, 2, 3]);
const vs = new Float64Array([0.5, Number.NaN, -0]);
const chunk = { bytes: encodeChunk(ts, vs), minTime: 1, maxTime: 3, count: 3 };

describe('checkpoints', () => {
  it('round-trip, newest wins, and survive a crash once written', async () => {
    const vfs = new MemoryVfs();
    await writeCheckpoint(vfs, { walSegment: 3, nextBlockSeq: 1, highWatermark: 3 }, [
      { key: 'a', parts: { chunks: [chunk], raws: [] } },
    ]);
    const name = await writeCheckpoint(
      vfs,
      { walSegment: 9, nextBlockSeq: 4, highWatermark: -Infinity },
      [
        {
          key: 'a',
          parts: {
            chunks: [chunk],
            raws: [{ timestamps: new Float64Array([0]), values: new Float64Array([7]) }],
          },
        },
        { key: 'b{x="1"}', parts: { chunks: [], raws: [] } },
      ],
    );
    vfs.crash();
    const c = (await loadLatestCheckpoint(vfs))!;
    expect(c.state).toEqual({ walSegment: 9, nextBlockSeq: 4, highWatermark: -Infinity });
    expect(c.series.map((s) => [s.key, s.chunks.length])).toEqual([
      ['a', 2],
      ['b{x="1"}', 0],
    ]);
    expect(Array.from(decodeChunk(c.series[0].chunks[1]).values)).toEqual([7]);
    expect(Object.is(decodeChunk(c.series[0].chunks[0]).values[2], -0)).toBe(true);
    await removeCheckpointsBefore(vfs, name);
    expect(await vfs.list(CHECKPOINT_DIR)).toEqual([name]);
  });

  it('a damaged checkpoint is corrupt_data; an unfinished .tmp is ignored and removed', async () => {
    const vfs = new MemoryVfs();
    const name = await writeCheckpoint(vfs, { walSegment: 1, nextBlockSeq: 0, highWatermark: 0 }, [
      { key: 'a', parts: { chunks: [chunk], raws: [] } },
    ]);
    const f = await vfs.open(joinPath(CHECKPOINT_DIR, '000000000002.tmp'), 'create');
    await f.append(new Uint8Array([1, 2, 3]));
    await f.close();
    expect((await loadLatestCheckpoint(vfs))!.name).toBe(name);
    expect(await vfs.list(CHECKPOINT_DIR)).toEqual([name]);
    const bytes = await vfs.readFile(joinPath(CHECKPOINT_DIR, name));
    bytes[bytes.length - 10] ^= 4;
    const g = await vfs.open(joinPath(CHECKPOINT_DIR, name), 'create');
    await g.append(bytes);
    await g.close();
    await expect(loadLatestCheckpoint(vfs)).rejects.toMatchObject({ code: 'corrupt_data' });
  });
});

import { describe, expect, it } from 'vitest';
import {
  BLOCK_CHUNKS_FILE,
  BLOCK_INDEX_FILE,
  BLOCK_META_FILE,
} from '../../src/storage/block-format.js';
import { Block } from '../../src/storage/block-reader.js';
import { BlockWriter } from '../../src/storage/block-writer.js';
import { openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { joinPath, type Vfs } from '../../src/storage/vfs.js';
import { batchOf, ManualEnv } from './engine-test-env.js';

function series(n: number, from: number, step: number) {
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    timestamps[i] = from + i * step;
    values[i] = Math.round(Math.sin(i) * 1000) / 10;
  }
  return { timestamps, values };
}

async function writeBlock(vfs: Vfs) {
  const w = await BlockWriter.create(vfs, 'blocks', 7, { start: 0, end: 100_000 }, 0, 100);
  await w.addSeries('a', series(250, 0, 10));
  await w.addSeries('b', series(3, 500, 1));
  return w.finish();
}

async function rewrite(vfs: MemoryVfs, path: string, edit: (b: Uint8Array) => void) {
  const bytes = await vfs.readFile(path);
  edit(bytes);
  const f = await vfs.open(path, 'create');
  await f.append(bytes);
  await f.sync();
  await f.close();
}

describe('blocks', () => {
  it('write, open and read ranges, skipping chunks outside the range', async () => {
    const vfs = new MemoryVfs();
    const meta = await writeBlock(vfs);
    expect(meta).toMatchObject({
      seq: 7,
      series: 2,
      chunks: 4,
      points: 253,
      minTime: 0,
      maxTime: 2490,
    });
    const b = (await Block.open(vfs, joinPath('blocks', meta.id)))!;
    expect(b.seriesKeys).toEqual(['a', 'b']);
    const r = await b.read('a', 1000, 1500);
    expect(Array.from(r.timestamps)).toEqual(Array.from({ length: 50 }, (_, i) => 1000 + i * 10));
    expect(Array.from(r.values)).toEqual(Array.from(series(250, 0, 10).values.subarray(100, 150)));
    expect((await b.read('c', 0, 1e9)).timestamps.length).toBe(0);
  });

  it('a published block with a damaged meta is corrupt_data; an unfinished .tmp one is removed', async () => {
    const vfs = new MemoryVfs();
    const meta = await writeBlock(vfs);
    const dir = joinPath('blocks', meta.id);
    await rewrite(vfs, joinPath(dir, BLOCK_META_FILE), (b) => {
      b[10] ^= 1;
    });
    await expect(Block.open(vfs, dir)).rejects.toMatchObject({ code: 'corrupt_data' });
    // The meta is durable before the block is renamed into place (or read at all), so a bad
    // meta is damage: the engine refuses to open rather than delete the block's data.
    await expect(openEngine(new ManualEnv(vfs))).rejects.toMatchObject({ code: 'corrupt_data' });
    expect(await vfs.exists(dir)).toBe(true);
    await vfs.rename(dir, `${dir}.tmp`);
    const e = await openEngine(new ManualEnv(vfs));
    expect(await vfs.exists(`${dir}.tmp`)).toBe(false);
    expect(e.stats().blocks).toBe(0);
    await e.close();
  });

  it('damaged index or chunk bytes under a valid meta are corrupt_data', async () => {
    const vfs = new MemoryVfs();
    const meta = await writeBlock(vfs);
    const dir = joinPath('blocks', meta.id);
    await rewrite(vfs, joinPath(dir, BLOCK_CHUNKS_FILE), (b) => {
      b[40] ^= 0x10;
    });
    const b = (await Block.open(vfs, dir))!;
    await expect(b.read('a', 0, 1e9)).rejects.toMatchObject({ code: 'corrupt_data' });
    await rewrite(vfs, joinPath(dir, BLOCK_INDEX_FILE), (x) => {
      x[20] ^= 1;
    });
    await expect(Block.open(vfs, dir)).rejects.toMatchObject({ code: 'corrupt_data' });
  });
});

describe('out-of-order window', () => {
  it('accepts late points within the window, visible at once, and after a flush', async () => {
    const H = 3600_000;
    const T = 1_700_000_000_000 - (1_700_000_000_000 % (2 * H));
    const e = await openEngine(new ManualEnv(new MemoryVfs(), T + 4 * H), {
      outOfOrderWindowMs: 30 * 60_000,
    });
    await e.write(batchOf([['s', T + 3 * H, 3]]));
    await e.write(batchOf([['s', T + 3 * H - 29 * 60_000, 1]]));
    await e.write(batchOf([['s', T + 3 * H - 10 * 60_000, 2]]));
    await expect(e.write(batchOf([['s', T + 3 * H - 31 * 60_000, 0]]))).rejects.toMatchObject({
      code: 'timestamp_out_of_window',
    });
    const want = [T + 3 * H - 29 * 60_000, T + 3 * H - 10 * 60_000, T + 3 * H];
    expect(Array.from((await e.readRange('s', T, T + 4 * H)).timestamps)).toEqual(want);
    await e.flush();
    // Late data for a window already on disk goes to a new block and merges at read time.
    await e.write(batchOf([['s', T + 3 * H - 20 * 60_000, 9]]));
    await e.flush();
    expect(e.stats().blocks).toBe(2);
    const got = await e.readRange('s', T, T + 4 * H);
    expect(Array.from(got.timestamps)).toEqual([
      want[0],
      T + 3 * H - 20 * 60_000,
      want[1],
      want[2],
    ]);
    expect(Array.from(got.values)).toEqual([1, 9, 2, 3]);
    await e.close();
  });
});

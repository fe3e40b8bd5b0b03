import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRealEnv } from '../../src/env/real-env.js';
import type { FsyncMode } from '../../src/storage/engine.js';
import { Wal } from '../../src/storage/wal.js';
import { runUntilKilled } from '../helpers/kill-child.js';
import { idOf, payloadFor } from './wal-helpers.js';

/**
 * The crash test on real files: a child process appends through the built WAL and prints each
 * acknowledged record; the parent SIGKILLs it at a random moment, then replays the directory
 * and checks that every acknowledged record is there, byte-exact, in order.
 */
const root = new URL('../../', import.meta.url).pathname;
const fixture = join(root, 'test/storage/fixtures/wal-writer.mjs');
const built =
  existsSync(join(root, 'dist/src/storage/wal.js')) &&
  existsSync(join(root, 'dist/test/storage/wal-helpers.js'));
if (!built) {
  console.warn('wal-kill.test.ts skipped: dist/ is missing; run `npm run build` (npm test does)');
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs the writer until it has acknowledged `killAfterAcks` records, then SIGKILLs it. */
function runAndKill(
  dir: string,
  mode: FsyncMode,
  writers: number,
  killAfterAcks: number,
): Promise<Set<number>> {
  return runUntilKilled(fixture, [dir, mode, String(writers)], (_line, acked, kill) => {
    if (acked.size >= killAfterAcks) kill();
  });
}

async function replayAll(dir: string): Promise<number[]> {
  const wal = await Wal.open(createRealEnv(dir), {
    dir: 'wal',
    fsync: 'batch',
    fsyncIntervalMs: 20,
    segmentBytes: 64 * 1024,
  });
  const ids: number[] = [];
  const stats = await wal.replay(1, (p) => ids.push(idOf(p)));
  expect(stats.corruptRecords).toBe(0);
  await wal.close();
  return ids;
}

describe.skipIf(!built)('Wal on real files, writer killed with SIGKILL', () => {
  for (const [mode, writers] of [
    ['always', 1],
    ['always', 4],
    ['batch', 4],
    ['batch', 16],
  ] as const) {
    it(`${mode}, ${writers} writer(s): every acknowledged record survives, in order`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'count-wal-kill-'));
      dirs.push(dir);
      const killAfter = 50 + Math.floor(Math.random() * 400);
      const acked = await runAndKill(dir, mode, writers, killAfter);
      expect(acked.size).toBeGreaterThanOrEqual(killAfter);
      const ids = await replayAll(dir);
      // A prefix of the append order (ids are issued in order), byte-exact (idOf checks bytes).
      expect(ids.every((id, i) => id === i)).toBe(true);
      for (const id of acked) expect(id).toBeLessThan(ids.length);

      // A second incarnation appends after recovery; both generations replay.
      const acked2 = await runAndKill(dir, mode, writers, 20);
      const ids2 = await replayAll(dir);
      expect(ids2.slice(0, ids.length)).toEqual(ids);
      const second = ids2.slice(ids.length);
      expect(second.every((id, i) => id === i)).toBe(true);
      for (const id of acked2) expect(id).toBeLessThan(second.length);
    });
  }
});

describe('Wal on real files: recovery', () => {
  it('cuts a torn tail on disk, keeps earlier segments, and appends after it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'count-wal-real-'));
    dirs.push(dir);
    const opts = { dir: 'wal', fsync: 'batch' as const, fsyncIntervalMs: 20, segmentBytes: 4096 };
    const wal = await Wal.open(createRealEnv(dir), opts);
    await Promise.all(Array.from({ length: 60 }, (_, i) => wal.append(payloadFor(i, 200))));
    await wal.close();
    const names = (await readdir(join(dir, 'wal'))).sort();
    expect(names.length).toBeGreaterThan(2);
    const last = join(dir, 'wal', names[names.length - 1]);
    const intact = (await stat(last)).size;
    // A torn write: the start of a record header and a few payload bytes.
    await appendFile(last, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6]));

    const again = await Wal.open(createRealEnv(dir), opts);
    const ids: number[] = [];
    const stats = await again.replay(1, (p) => ids.push(idOf(p)));
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(stats).toMatchObject({ tornTail: true, corruptRecords: 0, records: 60 });
    expect((await stat(last)).size).toBe(intact);
    await again.append(payloadFor(60, 10));
    await again.close();

    const third = await Wal.open(createRealEnv(dir), opts);
    const ids3: number[] = [];
    const stats3 = await third.replay(1, (p) => ids3.push(idOf(p)));
    expect(ids3).toEqual(Array.from({ length: 61 }, (_, i) => i));
    expect(stats3).toMatchObject({ tornTail: false, corruptRecords: 0 });
    await third.removeSegmentsBefore(third.currentSegment());
    expect(await readdir(join(dir, 'wal'))).toEqual([]);
    await third.close();
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { describeVfsContract } from './vfs-contract.js';

describeVfsContract('MemoryVfs', async () => ({ vfs: new MemoryVfs(), cleanup: async () => {} }));

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

async function writeFile(vfs: MemoryVfs, path: string, content: string, sync: boolean) {
  const f = await vfs.open(path, 'create');
  await f.append(bytes(content));
  if (sync) await f.sync();
  await f.close();
}

describe('MemoryVfs durability', () => {
  it('a crash drops bytes appended after the last sync', async () => {
    const vfs = new MemoryVfs();
    await vfs.mkdir('d');
    const f = await vfs.open('d/f', 'create');
    await vfs.syncDir('d');
    await f.append(bytes('durable'));
    await f.sync();
    await f.append(bytes('-lost'));
    expect(f.size()).toBe(12);
    vfs.crash();
    expect(text(await vfs.readFile('d/f'))).toBe('durable');
  });

  it('with tear, a prefix of the unsynced tail survives, never more', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 }), async (seed) => {
        let s = seed;
        const vfs = new MemoryVfs({
          random: () => {
            s = (s * 1103515245 + 12345) % 2 ** 31;
            return s / 2 ** 31;
          },
        });
        const f = await vfs.open('f', 'create');
        await vfs.syncDir('');
        await f.append(bytes('synced|'));
        await f.sync();
        await f.append(bytes('abcdefghij'));
        vfs.crash({ tear: true });
        const after = text(await vfs.readFile('f'));
        expect('synced|abcdefghij'.startsWith(after)).toBe(true);
        expect(after.length).toBeGreaterThanOrEqual(7);
      }),
      { numRuns: 50 },
    );
  });

  it('tearing keeps different prefix lengths across crashes', async () => {
    const vfs = new MemoryVfs();
    const lengths = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const f = await vfs.open(`f${i}`, 'create');
      await f.append(bytes('0123456789'));
      await vfs.syncDir('');
      vfs.crash({ tear: true });
      lengths.add((await vfs.readFile(`f${i}`)).length);
    }
    expect(lengths.size).toBeGreaterThan(3);
  });

  it('a new file is lost in a crash unless its directory was synced', async () => {
    const vfs = new MemoryVfs();
    await vfs.mkdir('d');
    await writeFile(vfs, 'd/before', 'y', true);
    await vfs.syncDir('d');
    await writeFile(vfs, 'd/after', 'z', true);
    vfs.crash();
    expect(await vfs.list('d')).toEqual(['before']);
    expect(text(await vfs.readFile('d/before'))).toBe('y');
    expect(await vfs.exists('d/after')).toBe(false);
  });

  it('a file whose entry is durable but whose data is not comes back empty', async () => {
    const vfs = new MemoryVfs();
    await writeFile(vfs, 'f', 'data', false);
    await vfs.syncDir('');
    vfs.crash();
    expect((await vfs.readFile('f')).length).toBe(0);
  });

  it('mkdir is durable when it resolves', async () => {
    const vfs = new MemoryVfs();
    await vfs.mkdir('a/b/c');
    vfs.crash();
    expect(await vfs.exists('a/b/c')).toBe(true);
  });

  it('rename keeps synced data and is durable only after syncDir', async () => {
    const vfs = new MemoryVfs();
    await writeFile(vfs, 'old', 'old', true);
    await vfs.syncDir('');
    await writeFile(vfs, 'tmp', 'new', true);
    await vfs.rename('tmp', 'old');
    vfs.crash();
    // rename not yet durable: the old file is back (and tmp was never durable).
    expect(text(await vfs.readFile('old'))).toBe('old');
    expect(await vfs.exists('tmp')).toBe(false);

    await writeFile(vfs, 'tmp', 'new', true);
    await vfs.rename('tmp', 'old');
    await vfs.syncDir('');
    vfs.crash();
    expect(text(await vfs.readFile('old'))).toBe('new');
    expect(await vfs.list('')).toEqual(['old']);
  });

  it('remove is undone by a crash before syncDir, and kept after', async () => {
    const vfs = new MemoryVfs();
    await vfs.mkdir('t/u');
    await writeFile(vfs, 't/u/f', 'keep', true);
    await vfs.syncDir('t/u');
    await vfs.remove('t');
    expect(await vfs.exists('t')).toBe(false);
    vfs.crash();
    expect(text(await vfs.readFile('t/u/f'))).toBe('keep');
    await vfs.remove('t');
    await vfs.syncDir('');
    vfs.crash();
    expect(await vfs.exists('t')).toBe(false);
  });

  it('truncate is durable when it resolves', async () => {
    const vfs = new MemoryVfs();
    await writeFile(vfs, 'f', '0123456789', true);
    await vfs.syncDir('');
    await vfs.truncate('f', 3);
    vfs.crash({ tear: true });
    expect(text(await vfs.readFile('f'))).toBe('012');
  });

  it('handles opened before a crash are dead after it', async () => {
    const vfs = new MemoryVfs();
    const f = await vfs.open('f', 'create');
    await vfs.syncDir('');
    vfs.crash();
    await expect(f.append(bytes('x'))).rejects.toMatchObject({ code: 'EBADF' });
    await expect(f.sync()).rejects.toMatchObject({ code: 'EBADF' });
    expect(() => f.size()).toThrow();
    const g = await vfs.open('f', 'append');
    await g.append(bytes('ok'));
    expect(text(await vfs.readFile('f'))).toBe('ok');
  });

  it('a handle on a removed file keeps working on the orphaned inode', async () => {
    const vfs = new MemoryVfs();
    const f = await vfs.open('f', 'create');
    await vfs.remove('f');
    await f.append(bytes('x'));
    expect(f.size()).toBe(1);
    expect(await vfs.exists('f')).toBe(false);
  });

  it('refuses to move a directory into itself', async () => {
    const vfs = new MemoryVfs();
    await vfs.mkdir('a/b');
    await expect(vfs.rename('a', 'a/b/c')).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await vfs.exists('a/b')).toBe(true);
  });
});

describe('MemoryVfs faults and controls', () => {
  it('an injected fsync failure rejects with EIO and leaves the data unsynced', async () => {
    const vfs = new MemoryVfs();
    const f = await vfs.open('f', 'create');
    await vfs.syncDir('');
    await f.append(bytes('abc'));
    vfs.setFaults({ syncFailures: 1 });
    await expect(f.sync()).rejects.toMatchObject({ code: 'EIO' });
    vfs.crash();
    expect((await vfs.readFile('f')).length).toBe(0);
    const g = await vfs.open('f', 'append');
    await g.append(bytes('abc'));
    await g.sync(); // the fault was used up
    vfs.crash();
    expect(text(await vfs.readFile('f'))).toBe('abc');
  });

  it('an injected write failure rejects with EIO after writing at most a prefix', async () => {
    const vfs = new MemoryVfs();
    const f = await vfs.open('wal/x', 'create').catch(() => undefined);
    expect(f).toBeUndefined();
    await vfs.mkdir('wal');
    const g = await vfs.open('wal/x', 'create');
    const h = await vfs.open('other', 'create');
    vfs.setFaults({ writeFailures: 1, pathPrefix: 'wal/' });
    await h.append(bytes('fine'));
    await expect(g.append(bytes('0123456789'))).rejects.toMatchObject({ code: 'EIO' });
    expect('0123456789'.startsWith(text(await vfs.readFile('wal/x')))).toBe(true);
    expect(g.size()).toBeLessThan(10);
  });

  it('counts syncs and appends, and totals bytes', async () => {
    const vfs = new MemoryVfs();
    const f = await vfs.open('f', 'create');
    await f.append(bytes('abc'));
    await f.append(bytes('de'));
    await f.sync();
    await vfs.syncDir('');
    expect(vfs.counters).toEqual({ fileSyncs: 1, dirSyncs: 1, appends: 2, bytesAppended: 5 });
    await vfs.mkdir('d');
    await writeFile(vfs, 'd/g', '1234', false);
    expect(vfs.snapshotBytes()).toBe(9);
  });

  it('a sync gate holds fsyncs until released', async () => {
    const vfs = new MemoryVfs();
    let release: () => void = () => {};
    vfs.setSyncGate(
      () =>
        new Promise<void>((r) => {
          release = r;
        }),
    );
    const f = await vfs.open('f', 'create');
    await f.append(bytes('x'));
    let done = false;
    const p = f.sync().then(() => {
      done = true;
    });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(done).toBe(false);
    expect(vfs.counters.fileSyncs).toBe(0);
    release();
    await p;
    expect(done).toBe(true);
    expect(vfs.counters.fileSyncs).toBe(1);
  });
});

describe('MemoryVfs process views', () => {
  it('a view dies with its incarnation; a new view works on the surviving disk', async () => {
    const disk = new MemoryVfs();
    const before = disk.view();
    await before.mkdir('d');
    const f = await before.open('d/f', 'create');
    await f.append(bytes('kept'));
    await f.sync();
    await before.syncDir('d');
    disk.crash();
    await expect(before.open('d/g', 'create')).rejects.toMatchObject({ code: 'EBADF' });
    await expect(before.syncDir('d')).rejects.toMatchObject({ code: 'EBADF' });
    await expect(before.remove('d/f')).rejects.toMatchObject({ code: 'EBADF' });
    const after = disk.view();
    expect(await after.list('d')).toEqual(['f']);
    expect(text(await after.readFile('d/f'))).toBe('kept');
  });
});

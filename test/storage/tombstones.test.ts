import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { MAX_TOMBSTONES, TOMBSTONES_FILE, Tombstones } from '../../src/storage/tombstones.js';

describe('Tombstones', () => {
  it('hide blocks up to their seq, persist durably, prune', async () => {
    const vfs = new MemoryVfs();
    const t = await Tombstones.load(vfs);
    t.add('a', 4);
    t.add('a', 2); // an older delete never lowers the bound
    t.add('b', 7);
    expect(t.hides('a', 4)).toBe(true);
    expect(t.hides('a', 5)).toBe(false);
    expect(t.hides('c', 0)).toBe(false);
    await t.persist();
    vfs.crash();
    const u = await Tombstones.load(vfs);
    expect(u.hides('a', 4) && !u.hides('a', 5) && u.hides('b', 7)).toBe(true);
    expect(u.maxBlockSeq()).toBe(7);
    expect(u.prune((key) => key === 'b')).toBe(1);
    await u.persist();
    vfs.crash();
    const w = await Tombstones.load(vfs);
    expect(w.size).toBe(1);
    expect(w.hides('a', 0)).toBe(false);
  });

  it('a damaged file is corrupt_data; the set is bounded', async () => {
    const vfs = new MemoryVfs();
    const t = await Tombstones.load(vfs);
    t.add('a', 1);
    await t.persist();
    const bytes = await vfs.readFile(TOMBSTONES_FILE);
    bytes[12] ^= 1;
    const f = await vfs.open(TOMBSTONES_FILE, 'create');
    await f.append(bytes);
    await f.close();
    await expect(Tombstones.load(vfs)).rejects.toMatchObject({ code: 'corrupt_data' });
    const big = await Tombstones.load(new MemoryVfs());
    for (let i = 0; i < MAX_TOMBSTONES; i++) big.add(`s${i}`, 0);
    expect(() => big.add('one-more', 0)).toThrow(expect.objectContaining({ code: 'overloaded' }));
    big.add('s1', 3); // raising an existing one is fine
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isNotFound, type Vfs } from '../../src/storage/vfs.js';

/**
 * The Vfs contract, run against every implementation (MemoryVfs here, NodeVfs in
 * test/env/node-vfs.test.ts) so the simulator's disk and the real one behave the same.
 */
export interface VfsFixture {
  vfs: Vfs;
  cleanup(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: Uint8Array): string => dec.decode(b);

async function expectNotFound(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected ENOENT').toBeDefined();
  expect(isNotFound(err)).toBe(true);
}

export function describeVfsContract(name: string, make: () => Promise<VfsFixture>): void {
  describe(`Vfs contract: ${name}`, () => {
    let fx: VfsFixture;
    let vfs: Vfs;
    beforeEach(async () => {
      fx = await make();
      vfs = fx.vfs;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('appends, reads back and tracks size', async () => {
      await vfs.mkdir('d');
      const f = await vfs.open('d/a', 'create');
      expect(f.path).toBe('d/a');
      expect(f.size()).toBe(0);
      await f.append(bytes('hello '));
      await f.append(bytes('world'));
      expect(f.size()).toBe(11);
      expect(text(await f.read(0, 5))).toBe('hello');
      expect(text(await f.read(6, 100))).toBe('world');
      expect((await f.read(11, 10)).length).toBe(0);
      expect((await f.read(50, 10)).length).toBe(0);
      await f.sync();
      await f.close();
      expect(text(await vfs.readFile('d/a'))).toBe('hello world');
    });

    it('append mode keeps content and create mode replaces it', async () => {
      await vfs.mkdir('d');
      const a = await vfs.open('d/a', 'append');
      await a.append(bytes('one'));
      await a.close();
      const b = await vfs.open('d/a', 'append');
      expect(b.size()).toBe(3);
      await b.append(bytes('two'));
      await b.close();
      expect(text(await vfs.readFile('d/a'))).toBe('onetwo');
      const c = await vfs.open('d/a', 'create');
      expect(c.size()).toBe(0);
      await c.append(bytes('three'));
      await c.close();
      expect(text(await vfs.readFile('d/a'))).toBe('three');
    });

    it('read mode needs an existing file and refuses appends', async () => {
      await expectNotFound(vfs.open('missing', 'read'));
      await expectNotFound(vfs.readFile('missing'));
      const w = await vfs.open('x', 'create');
      await w.append(bytes('abc'));
      await w.close();
      const r = await vfs.open('x', 'read');
      expect(r.size()).toBe(3);
      await expect(r.append(bytes('d'))).rejects.toThrow();
      await r.close();
      expect(text(await vfs.readFile('x'))).toBe('abc');
    });

    it('opening in a missing directory fails with ENOENT', async () => {
      await expectNotFound(vfs.open('nodir/file', 'create'));
    });

    it('handles binary data and large appends', async () => {
      const big = new Uint8Array(300_000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
      const f = await vfs.open('big', 'create');
      await f.append(big.subarray(0, 1000));
      await f.append(big.subarray(1000));
      expect(f.size()).toBe(big.length);
      const mid = await f.read(123_456, 10_000);
      expect(Buffer.from(mid).equals(big.subarray(123_456, 133_456))).toBe(true);
      await f.close();
      expect(Buffer.from(await vfs.readFile('big')).equals(big)).toBe(true);
    });

    it('exists, list (sorted; [] when missing) and mkdir (nested, idempotent)', async () => {
      expect(await vfs.list('nope')).toEqual([]);
      await vfs.mkdir('a/b/c');
      await vfs.mkdir('a/b/c');
      await vfs.mkdir('a/b');
      expect(await vfs.exists('a')).toBe(true);
      expect(await vfs.exists('a/b/c')).toBe(true);
      expect(await vfs.exists('a/x')).toBe(false);
      for (const n of ['z', 'm', '00000002', '00000001']) {
        const f = await vfs.open(`a/${n}`, 'create');
        await f.close();
      }
      expect(await vfs.list('a')).toEqual(['00000001', '00000002', 'b', 'm', 'z']);
      expect(await vfs.list('a/b/c')).toEqual([]);
    });

    it('renames files, replacing the target', async () => {
      await vfs.mkdir('d');
      for (const [n, c] of [
        ['tmp', 'new'],
        ['final', 'old'],
      ]) {
        const f = await vfs.open(`d/${n}`, 'create');
        await f.append(bytes(c));
        await f.sync();
        await f.close();
      }
      await vfs.rename('d/tmp', 'd/final');
      expect(await vfs.exists('d/tmp')).toBe(false);
      expect(text(await vfs.readFile('d/final'))).toBe('new');
      expect(await vfs.list('d')).toEqual(['final']);
      await expectNotFound(vfs.rename('d/tmp', 'd/other'));
    });

    it('renames directories with their contents', async () => {
      await vfs.mkdir('blocks/tmp-1');
      const f = await vfs.open('blocks/tmp-1/chunks', 'create');
      await f.append(bytes('data'));
      await f.close();
      await vfs.rename('blocks/tmp-1', 'blocks/b1');
      expect(await vfs.list('blocks')).toEqual(['b1']);
      expect(text(await vfs.readFile('blocks/b1/chunks'))).toBe('data');
    });

    it('removes files and trees; removing a missing path is fine', async () => {
      await vfs.mkdir('t/u');
      const f = await vfs.open('t/u/f', 'create');
      await f.close();
      const g = await vfs.open('t/g', 'create');
      await g.close();
      await vfs.remove('t/g');
      expect(await vfs.list('t')).toEqual(['u']);
      await vfs.remove('t');
      expect(await vfs.exists('t')).toBe(false);
      expect(await vfs.exists('t/u/f')).toBe(false);
      await vfs.remove('t');
      await vfs.remove('never/was');
    });

    it('truncates a file (shorter; missing file is ENOENT)', async () => {
      const f = await vfs.open('tr', 'create');
      await f.append(bytes('0123456789'));
      await f.close();
      await vfs.truncate('tr', 4);
      expect(text(await vfs.readFile('tr'))).toBe('0123');
      const g = await vfs.open('tr', 'append');
      expect(g.size()).toBe(4);
      await g.append(bytes('xy'));
      await g.close();
      expect(text(await vfs.readFile('tr'))).toBe('0123xy');
      await expectNotFound(vfs.truncate('nope', 0));
    });

    it('syncs files and directories', async () => {
      await vfs.mkdir('s');
      const f = await vfs.open('s/f', 'create');
      await f.append(bytes('x'));
      await f.sync();
      await f.close();
      await vfs.syncDir('s');
      await vfs.syncDir('');
      expect(text(await vfs.readFile('s/f'))).toBe('x');
    });

    it('a closed handle refuses further use', async () => {
      const f = await vfs.open('c', 'create');
      await f.close();
      await expect(f.append(bytes('x'))).rejects.toThrow();
    });
  });
}

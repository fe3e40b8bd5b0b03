import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeVfs } from '../../src/env/node-vfs.js';
import { describeVfsContract } from '../storage/vfs-contract.js';

describeVfsContract('NodeVfs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'count-vfs-'));
  return { vfs: new NodeVfs(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('NodeVfs specifics', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'count-vfs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps vfs paths under the root directory', async () => {
    const vfs = new NodeVfs(dir);
    await vfs.mkdir('wal');
    const f = await vfs.open('wal/00000001', 'create');
    await f.append(new TextEncoder().encode('abc'));
    await f.sync();
    await f.close();
    await vfs.syncDir('wal');
    expect(await readFile(join(dir, 'wal', '00000001'), 'utf8')).toBe('abc');
  });

  it('sees a file written by someone else', async () => {
    await writeFile(join(dir, 'ext'), 'outside');
    const vfs = new NodeVfs(dir);
    const f = await vfs.open('ext', 'read');
    expect(f.size()).toBe(7);
    expect(new TextDecoder().decode(await f.read(3, 4))).toBe('side');
    await f.close();
  });

  it('creates a missing root with mkdir("") and refuses paths escaping the root', async () => {
    const vfs = new NodeVfs(join(dir, 'not', 'yet'));
    await vfs.mkdir('');
    expect(await vfs.list('')).toEqual([]);
    await expect(vfs.open('../escape', 'create')).rejects.toThrow(/normalized/);
    await expect(vfs.remove('')).rejects.toThrow(/root/);
  });

  it('rename replaces a non-empty directory', async () => {
    const vfs = new NodeVfs(dir);
    await vfs.mkdir('a');
    await vfs.mkdir('b');
    const f = await vfs.open('b/old', 'create');
    await f.close();
    const g = await vfs.open('a/new', 'create');
    await g.close();
    await vfs.rename('a', 'b');
    expect(await vfs.list('b')).toEqual(['new']);
  });
});

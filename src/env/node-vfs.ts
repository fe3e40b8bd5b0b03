import {
  constants,
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
} from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { assert } from '../model/assert.js';
import type { OpenMode, Vfs, VfsFile } from '../storage/vfs.js';

/**
 * NodeVfs: the Vfs contract over node:fs/promises, rooted at a directory.
 * Durability matches MemoryVfs: `sync` is fsync (FileHandle.sync), `syncDir` fsyncs the
 * directory, and `mkdir` and `truncate` fsync before they resolve, so callers never need a
 * handle to make them durable. Appends go through one open FileHandle and `size()` is tracked
 * in memory, so the WAL's hot path costs one write(2) per append.
 */
export class NodeVfs implements Vfs {
  readonly root: string;

  constructor(rootDir: string) {
    this.root = resolve(rootDir);
  }

  /** Maps a vfs path onto the real one, refusing anything that escapes the root. */
  private real(path: string): string {
    const parts = path.split('/').filter((p) => p.length > 0);
    for (const p of parts) {
      assert(p !== '.' && p !== '..' && !p.includes(sep), `vfs path must be normalized: ${path}`);
    }
    return parts.length === 0 ? this.root : join(this.root, ...parts);
  }

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    const real = this.real(path);
    let flags: number;
    if (mode === 'read') flags = constants.O_RDONLY;
    else if (mode === 'append') flags = constants.O_RDWR | constants.O_CREAT | constants.O_APPEND;
    else flags = constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND;
    const handle = await open(real, flags, 0o644);
    try {
      const { size } = await handle.stat();
      return new NodeFile(path, handle, mode, size);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    return readFile(this.real(path));
  }

  async exists(path: string): Promise<boolean> {
    try {
      await stat(this.real(path));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async list(dir: string): Promise<string[]> {
    try {
      const names = await readdir(this.real(dir));
      return names.sort();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw e;
    }
  }

  async mkdir(dir: string): Promise<void> {
    const target = this.real(dir);
    const first = await mkdir(target, { recursive: true });
    if (first === undefined) return;
    // Make each new entry durable: fsync the parent of every directory we created.
    const created: string[] = [];
    for (let d = target; d.length >= first.length; d = resolve(d, '..')) {
      created.push(d);
      if (d === first) break;
    }
    for (const d of created) await fsyncPath(resolve(d, '..'));
  }

  async rename(from: string, to: string): Promise<void> {
    const src = this.real(from);
    const dst = this.real(to);
    try {
      await rename(src, dst);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      // POSIX cannot replace a non-empty directory; remove it first (not atomic, documented).
      await rm(dst, { recursive: true, force: true });
      await rename(src, dst);
    }
  }

  async remove(path: string): Promise<void> {
    const real = this.real(path);
    assert(real !== this.root, 'NodeVfs.remove: cannot remove the root');
    await rm(real, { recursive: true, force: true });
  }

  async truncate(path: string, size: number): Promise<void> {
    assert(Number.isInteger(size) && size >= 0, 'NodeVfs.truncate: bad size');
    const handle = await open(this.real(path), constants.O_RDWR);
    try {
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async syncDir(dir: string): Promise<void> {
    await fsyncPath(this.real(dir));
  }
}

async function fsyncPath(real: string): Promise<void> {
  const handle = await open(real, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

class NodeFile implements VfsFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly mode: OpenMode,
    private length: number,
  ) {}

  size(): number {
    this.check();
    return this.length;
  }

  async append(data: Uint8Array): Promise<void> {
    this.check();
    if (this.mode === 'read') throw ebadf(`opened read-only: ${this.path}`);
    let offset = 0;
    // write(2) may be short; O_APPEND puts every piece at the end.
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
      this.length += bytesWritten;
    }
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    this.check();
    assert(position >= 0 && length >= 0, 'NodeFile.read: negative position or length');
    const want = Math.max(0, Math.min(length, this.length - position));
    const buf = new Uint8Array(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.handle.read(buf, got, want - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === want ? buf : buf.subarray(0, got);
  }

  async sync(): Promise<void> {
    this.check();
    await this.handle.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private check(): void {
    if (this.closed) throw ebadf(`file is closed: ${this.path}`);
  }
}

function ebadf(message: string): Error {
  return Object.assign(new Error(message), { code: 'EBADF' });
}

import type { OpenMode, Vfs, VfsFile } from '../src/storage/vfs.js';

/**
 * The disk as one incarnation of a node sees it. When the node crashes, the simulator fences
 * the incarnation: every later call from its leftover promise chains fails, so a dead process
 * can never write to the disk its successor boots from. (MemoryVfs already kills open file
 * handles on crash; this also stops new opens, renames and removes.)
 */
export class FencedVfs implements Vfs {
  private alive = true;

  constructor(private readonly inner: Vfs) {}

  fence(): void {
    this.alive = false;
  }

  private check(): void {
    if (!this.alive) throw new FencedError();
  }

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    this.check();
    return this.inner.open(path, mode);
  }
  async readFile(path: string): Promise<Uint8Array> {
    this.check();
    return this.inner.readFile(path);
  }
  async exists(path: string): Promise<boolean> {
    this.check();
    return this.inner.exists(path);
  }
  async list(dir: string): Promise<string[]> {
    this.check();
    return this.inner.list(dir);
  }
  async mkdir(dir: string): Promise<void> {
    this.check();
    return this.inner.mkdir(dir);
  }
  async rename(from: string, to: string): Promise<void> {
    this.check();
    return this.inner.rename(from, to);
  }
  async remove(path: string): Promise<void> {
    this.check();
    return this.inner.remove(path);
  }
  async truncate(path: string, size: number): Promise<void> {
    this.check();
    return this.inner.truncate(path, size);
  }
  async syncDir(dir: string): Promise<void> {
    this.check();
    return this.inner.syncDir(dir);
  }
}

/** Thrown at a crashed incarnation that still tries to use the disk. */
export class FencedError extends Error {
  readonly code = 'EBADF';
  constructor() {
    super('node crashed: this incarnation may not touch the disk');
    this.name = 'FencedError';
  }
}

import type { MemoryVfs } from '../../src/storage/memory-vfs.js';
import type { OpenMode, Vfs, VfsFile } from '../../src/storage/vfs.js';

/**
 * A Vfs over one incarnation of a MemoryVfs that counts operations (file ones included) and
 * crashes the disk at operation `crashAt`: that operation and everything after it fail, and
 * only what was durable survives (with `tear`, part of unsynced tails too).
 */
export class CrashAtOpVfs implements Vfs {
  ops = 0;
  crashed = false;
  private readonly inner: Vfs;

  constructor(
    private readonly mem: MemoryVfs,
    private readonly crashAt: number,
    private readonly tear = true,
  ) {
    this.inner = mem.view();
  }

  /** Counts one operation; crashes when it is the chosen one. */
  tick(): void {
    this.ops++;
    if (!this.crashed && this.ops >= this.crashAt) this.crashNow();
  }

  crashNow(): void {
    if (this.crashed) return;
    this.crashed = true;
    this.mem.crash({ tear: this.tear });
  }

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    this.tick();
    const f = await this.inner.open(path, mode);
    const self = this;
    return {
      path: f.path,
      size: () => f.size(),
      async append(data: Uint8Array) {
        self.tick();
        return f.append(data);
      },
      async read(position: number, length: number) {
        self.tick();
        return f.read(position, length);
      },
      async sync() {
        self.tick();
        return f.sync();
      },
      close: () => f.close(),
    };
  }
  async readFile(path: string): Promise<Uint8Array> {
    this.tick();
    return this.inner.readFile(path);
  }
  async exists(path: string): Promise<boolean> {
    this.tick();
    return this.inner.exists(path);
  }
  async list(dir: string): Promise<string[]> {
    this.tick();
    return this.inner.list(dir);
  }
  async mkdir(dir: string): Promise<void> {
    this.tick();
    return this.inner.mkdir(dir);
  }
  async rename(from: string, to: string): Promise<void> {
    this.tick();
    return this.inner.rename(from, to);
  }
  async remove(path: string): Promise<void> {
    this.tick();
    return this.inner.remove(path);
  }
  async truncate(path: string, size: number): Promise<void> {
    this.tick();
    return this.inner.truncate(path, size);
  }
  async syncDir(dir: string): Promise<void> {
    this.tick();
    return this.inner.syncDir(dir);
  }
}

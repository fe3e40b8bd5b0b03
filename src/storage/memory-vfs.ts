import { assert } from '../model/assert.js';
import { dirName, type OpenMode, type Vfs, type VfsFile, VfsNotFound } from './vfs.js';

/**
 * MemoryVfs: the Vfs contract in memory, with POSIX durability modelled closely enough that a
 * `crash()` loses exactly what a power cut may lose:
 * - a file's bytes are durable up to its last `sync()`; the unsynced tail is dropped, or with
 *   `tear` a random prefix of it survives (a torn last write);
 * - creating, renaming or removing an entry is durable only after `syncDir` of its parent
 *   directory; a rename keeps the inode, so data synced before the rename survives;
 * - `mkdir` and `truncate` are durable when they resolve (NodeVfs fsyncs for them too).
 * Every method is async but completes on the microtask queue, never on a real timer, so the
 * simulator stays deterministic.
 */

/** A file's content: `buf[0, length)`; `buf[0, durableLength)` survives a crash. */
class Inode {
  buf: Uint8Array = new Uint8Array(0);
  length = 0;
  durableLength = 0;

  appendBytes(data: Uint8Array): void {
    const need = this.length + data.length;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, this.buf.length * 2, 256));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(data, this.length);
    this.length = need;
  }

  setLength(size: number): void {
    if (size > this.buf.length) {
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    } else if (size > this.length) {
      this.buf.fill(0, this.length, size);
    }
    this.length = size;
  }
}

class Dir {
  /** The entries the running system sees. */
  entries = new Map<string, Inode | Dir>();
  /** The entries as of this directory's last syncDir: what a crash leaves. */
  durable = new Map<string, Inode | Dir>();
}

/** An I/O error in the shape node gives it (code EIO), raised by injected faults. */
export class VfsIoError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'VfsIoError';
    this.code = code;
  }
}

export interface MemoryVfsFaults {
  /** The next `syncFailures` file syncs fail with EIO (their data stays unsynced). */
  syncFailures?: number;
  /** The next `writeFailures` appends fail with EIO after writing a random prefix of the data. */
  writeFailures?: number;
  /** Only paths starting with this prefix are affected; default all. */
  pathPrefix?: string;
}

export interface MemoryVfsCounters {
  fileSyncs: number;
  dirSyncs: number;
  appends: number;
  bytesAppended: number;
}

export interface MemoryVfsOptions {
  /** Uniform [0, 1) source for tearing and partial writes; seeded in the simulator. */
  random?: () => number;
}

function splitPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p.length > 0);
  for (const p of parts) assert(p !== '.' && p !== '..', `vfs path must be normalized: ${path}`);
  return parts;
}

export class MemoryVfs implements Vfs {
  private root = new Dir();
  private readonly random: () => number;
  /** Bumped by crash(): handles from an earlier generation are dead. */
  private generation = 0;
  private faults: Required<MemoryVfsFaults> = { syncFailures: 0, writeFailures: 0, pathPrefix: '' };
  private syncGate: (() => Promise<void>) | null = null;
  readonly counters: MemoryVfsCounters = {
    fileSyncs: 0,
    dirSyncs: 0,
    appends: 0,
    bytesAppended: 0,
  };

  constructor(options: MemoryVfsOptions = {}) {
    // A fixed-seed generator, so a MemoryVfs built without one still tears reproducibly.
    this.random = options.random ?? mulberry32(0x9e3779b9);
  }

  // ---- test and simulator controls ----

  /** Injects I/O failures for fault tests (replaces earlier settings). */
  setFaults(faults: MemoryVfsFaults): void {
    this.faults = {
      syncFailures: faults.syncFailures ?? 0,
      writeFailures: faults.writeFailures ?? 0,
      pathPrefix: faults.pathPrefix ?? '',
    };
  }

  /**
   * Makes every file sync wait for `gate()` before it takes effect (null removes the gate).
   * Tests use it to hold an fsync "in flight" and watch what queues behind it.
   */
  setSyncGate(gate: (() => Promise<void>) | null): void {
    this.syncGate = gate;
  }

  /**
   * Power cut: everything not durable is dropped and every open handle dies. With `tear`, a
   * random prefix of each file's unsynced tail survives, as a disk may persist part of a write.
   */
  crash(options: { tear?: boolean } = {}): void {
    this.generation++;
    const seenDirs = new Set<Dir>();
    const seenFiles = new Set<Inode>();
    const restore = (dir: Dir): void => {
      if (seenDirs.has(dir)) return;
      seenDirs.add(dir);
      dir.entries = new Map(dir.durable);
      for (const node of dir.entries.values()) {
        if (node instanceof Dir) restore(node);
        else if (!seenFiles.has(node)) {
          seenFiles.add(node);
          let keep = node.durableLength;
          if (options.tear === true && node.length > keep) {
            keep += Math.floor(this.random() * (node.length - keep + 1));
          }
          node.length = keep;
          node.durableLength = keep;
        }
      }
    };
    restore(this.root);
  }

  /**
   * A Vfs bound to the current incarnation of the process using this disk: after the next
   * crash() every call through it rejects with EBADF, as a dead process does nothing more.
   * The simulator hands each node incarnation its own view; calls through the MemoryVfs itself
   * always act on the current incarnation.
   */
  view(): Vfs {
    return new MemoryVfsView(this, this.generation);
  }

  /** @internal */
  isCurrent(generation: number): boolean {
    return generation === this.generation;
  }

  /** Total bytes held in all reachable files (for tests). */
  snapshotBytes(): number {
    let total = 0;
    const walk = (dir: Dir): void => {
      for (const node of dir.entries.values()) {
        if (node instanceof Dir) walk(node);
        else total += node.length;
      }
    };
    walk(this.root);
    return total;
  }

  // ---- Vfs ----

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    const parts = splitPath(path);
    assert(parts.length > 0, 'MemoryVfs.open: empty path');
    const name = parts[parts.length - 1];
    const parent = this.dirAt(parts.slice(0, -1), path);
    const existing = parent.entries.get(name);
    if (existing instanceof Dir) throw new VfsIoError('EISDIR', `is a directory: ${path}`);
    let inode: Inode;
    if (mode === 'read') {
      if (existing === undefined) throw new VfsNotFound(path);
      inode = existing;
    } else if (mode === 'append' && existing !== undefined) {
      inode = existing;
    } else {
      // 'create' gets a fresh inode: until the directory is synced, a crash brings the old file
      // back, one of the outcomes POSIX allows for an unsynced O_TRUNC.
      inode = new Inode();
      parent.entries.set(name, inode);
    }
    return new MemoryFile(this, path, inode, mode, this.generation);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const node = this.lookup(path);
    if (node === undefined) throw new VfsNotFound(path);
    if (node instanceof Dir) throw new VfsIoError('EISDIR', `is a directory: ${path}`);
    return node.buf.slice(0, node.length);
  }

  async exists(path: string): Promise<boolean> {
    return this.lookup(path) !== undefined;
  }

  async list(dir: string): Promise<string[]> {
    const node = this.lookup(dir);
    if (!(node instanceof Dir)) return [];
    return [...node.entries.keys()].sort();
  }

  async mkdir(dir: string): Promise<void> {
    let cur = this.root;
    for (const part of splitPath(dir)) {
      let next = cur.entries.get(part);
      if (next === undefined) {
        next = new Dir();
        cur.entries.set(part, next);
        cur.durable.set(part, next);
      } else if (!(next instanceof Dir)) {
        throw new VfsIoError('ENOTDIR', `not a directory: ${dir}`);
      }
      cur = next;
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const fromParts = splitPath(from);
    const toParts = splitPath(to);
    assert(fromParts.length > 0 && toParts.length > 0, 'MemoryVfs.rename: empty path');
    const fromDir = this.dirAt(fromParts.slice(0, -1), from);
    const node = fromDir.entries.get(fromParts[fromParts.length - 1]);
    if (node === undefined) throw new VfsNotFound(from);
    const toDir = this.dirAt(toParts.slice(0, -1), to);
    if (node instanceof Dir) {
      // Moving a directory below itself would detach it from the tree.
      for (let k = 0; k < toParts.length; k++) {
        if (this.dirAtOrUndefined(toParts.slice(0, k)) === node) {
          throw new VfsIoError('EINVAL', `cannot move ${from} into itself`);
        }
      }
    }
    fromDir.entries.delete(fromParts[fromParts.length - 1]);
    toDir.entries.set(toParts[toParts.length - 1], node);
  }

  async remove(path: string): Promise<void> {
    const parts = splitPath(path);
    assert(parts.length > 0, 'MemoryVfs.remove: cannot remove the root');
    const parent = this.dirAtOrUndefined(parts.slice(0, -1));
    parent?.entries.delete(parts[parts.length - 1]);
  }

  async truncate(path: string, size: number): Promise<void> {
    assert(Number.isInteger(size) && size >= 0, 'MemoryVfs.truncate: bad size');
    const node = this.lookup(path);
    if (node === undefined) throw new VfsNotFound(path);
    if (node instanceof Dir) throw new VfsIoError('EISDIR', `is a directory: ${path}`);
    node.setLength(size);
    // Durable at once, like NodeVfs (ftruncate + fsync).
    node.durableLength = node.length;
  }

  async syncDir(dir: string): Promise<void> {
    const node = this.lookup(dir);
    if (!(node instanceof Dir)) throw new VfsNotFound(dir);
    this.counters.dirSyncs++;
    node.durable = new Map(node.entries);
  }

  // ---- internals used by MemoryFile ----

  /** @internal */
  checkAlive(file: MemoryFile): void {
    if (file.generation !== this.generation) {
      throw new VfsIoError('EBADF', `file handle died in a crash: ${file.path}`);
    }
  }

  /** @internal */
  appendTo(file: MemoryFile, inode: Inode, data: Uint8Array): Promise<void> {
    // Completes at once: a shared settled promise instead of an async function's new one, as
    // the simulator appends on every Raft write.
    try {
      this.checkAlive(file);
      this.counters.appends++;
      if (this.faults.writeFailures > 0 && file.path.startsWith(this.faults.pathPrefix)) {
        this.faults.writeFailures--;
        inode.appendBytes(data.subarray(0, Math.floor(this.random() * data.length)));
        throw new VfsIoError('EIO', `injected write failure: ${file.path}`);
      }
      this.counters.bytesAppended += data.length;
      inode.appendBytes(data);
    } catch (e) {
      return Promise.reject(e);
    }
    return DONE;
  }

  /** @internal */
  syncFile(file: MemoryFile, inode: Inode): Promise<void> {
    if (this.syncGate !== null) return this.gatedSync(file, inode, this.syncGate);
    try {
      this.checkAlive(file);
      this.completeSync(file, inode);
    } catch (e) {
      return Promise.reject(e);
    }
    return DONE;
  }

  private async gatedSync(
    file: MemoryFile,
    inode: Inode,
    gate: () => Promise<void>,
  ): Promise<void> {
    this.checkAlive(file);
    await gate();
    this.checkAlive(file);
    this.completeSync(file, inode);
  }

  private completeSync(file: MemoryFile, inode: Inode): void {
    this.counters.fileSyncs++;
    if (this.faults.syncFailures > 0 && file.path.startsWith(this.faults.pathPrefix)) {
      this.faults.syncFailures--;
      throw new VfsIoError('EIO', `injected fsync failure: ${file.path}`);
    }
    inode.durableLength = inode.length;
  }

  private lookup(path: string): Inode | Dir | undefined {
    let cur: Inode | Dir = this.root;
    for (const part of splitPath(path)) {
      if (!(cur instanceof Dir)) return undefined;
      const next: Inode | Dir | undefined = cur.entries.get(part);
      if (next === undefined) return undefined;
      cur = next;
    }
    return cur;
  }

  private dirAtOrUndefined(parts: string[]): Dir | undefined {
    let cur: Dir = this.root;
    for (const part of parts) {
      const next = cur.entries.get(part);
      if (!(next instanceof Dir)) return undefined;
      cur = next;
    }
    return cur;
  }

  private dirAt(parts: string[], forPath: string): Dir {
    const dir = this.dirAtOrUndefined(parts);
    if (dir === undefined) throw new VfsNotFound(dirName(forPath) || forPath);
    return dir;
  }
}

class MemoryVfsView implements Vfs {
  constructor(
    private readonly vfs: MemoryVfs,
    private readonly generation: number,
  ) {}

  private alive(): void {
    if (!this.vfs.isCurrent(this.generation)) {
      throw new VfsIoError('EBADF', 'this process view of the disk died in a crash');
    }
  }

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    this.alive();
    return this.vfs.open(path, mode);
  }
  async readFile(path: string): Promise<Uint8Array> {
    this.alive();
    return this.vfs.readFile(path);
  }
  async exists(path: string): Promise<boolean> {
    this.alive();
    return this.vfs.exists(path);
  }
  async list(dir: string): Promise<string[]> {
    this.alive();
    return this.vfs.list(dir);
  }
  async mkdir(dir: string): Promise<void> {
    this.alive();
    return this.vfs.mkdir(dir);
  }
  async rename(from: string, to: string): Promise<void> {
    this.alive();
    return this.vfs.rename(from, to);
  }
  async remove(path: string): Promise<void> {
    this.alive();
    return this.vfs.remove(path);
  }
  async truncate(path: string, size: number): Promise<void> {
    this.alive();
    return this.vfs.truncate(path, size);
  }
  async syncDir(dir: string): Promise<void> {
    this.alive();
    return this.vfs.syncDir(dir);
  }
}

class MemoryFile implements VfsFile {
  private closed = false;

  constructor(
    private readonly vfs: MemoryVfs,
    readonly path: string,
    private readonly inode: Inode,
    private readonly mode: OpenMode,
    readonly generation: number,
  ) {}

  size(): number {
    this.check();
    return this.inode.length;
  }

  // append and sync hand back the vfs's promise instead of awaiting it in an async wrapper:
  // the simulator runs them on every Raft write, and each extra layer is a promise and a turn.
  append(data: Uint8Array): Promise<void> {
    try {
      this.check();
      if (this.mode === 'read') throw new VfsIoError('EBADF', `opened read-only: ${this.path}`);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.vfs.appendTo(this, this.inode, data);
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    this.check();
    assert(position >= 0 && length >= 0, 'MemoryFile.read: negative position or length');
    const end = Math.min(this.inode.length, position + length);
    return position >= end ? new Uint8Array(0) : this.inode.buf.slice(position, end);
  }

  sync(): Promise<void> {
    try {
      this.check();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.vfs.syncFile(this, this.inode);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new VfsIoError('EBADF', `file is closed: ${this.path}`);
    this.vfs.checkAlive(this);
  }
}

/** What appendTo and syncFile hand back when they completed without error. */
const DONE: Promise<void> = Promise.resolve();

/** Small seeded PRNG for the default tearing source. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

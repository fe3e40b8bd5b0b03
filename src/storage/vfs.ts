/**
 * vfs: the narrow file interface the storage engine (and raft/'s log store) does all its I/O
 * through. `NodeVfs` (src/env/node-vfs.ts) maps it onto node:fs; `MemoryVfs` (memory-vfs.ts)
 * keeps files in memory and can `crash()`, dropping whatever was not fsynced, for tests and the
 * simulator.
 *
 * Paths are '/'-separated and relative to the vfs root ("wal/00000001"). Durability follows
 * POSIX: `VfsFile.sync()` makes a file's bytes durable; `syncDir(dir)` makes the creation,
 * rename or removal of entries in `dir` durable.
 */
export interface VfsFile {
  readonly path: string;
  /** Bytes in the file now, including appended bytes not yet synced. */
  size(): number;
  append(data: Uint8Array): Promise<void>;
  /** Reads up to `length` bytes at `position`; shorter at end of file. */
  read(position: number, length: number): Promise<Uint8Array>;
  /** fsync: the bytes appended so far survive a crash once this resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export type OpenMode =
  /** read only; the file must exist */
  | 'read'
  /** append, creating the file if missing */
  | 'append'
  /** create a new empty file for appending, replacing any file at that path */
  | 'create';

export interface Vfs {
  open(path: string, mode: OpenMode): Promise<VfsFile>;
  /** Whole file; rejects with code ENOENT if missing. */
  readFile(path: string): Promise<Uint8Array>;
  exists(path: string): Promise<boolean>;
  /** Entry names in `dir`, sorted; [] when `dir` does not exist. */
  list(dir: string): Promise<string[]>;
  /** Creates `dir` and its parents; no error if it exists. */
  mkdir(dir: string): Promise<void>;
  /** Atomically replaces `to` with `from` (files or directories). */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or a directory tree; no error if missing. */
  remove(path: string): Promise<void>;
  /** Cuts a file to `size` bytes (used to drop a torn tail). */
  truncate(path: string, size: number): Promise<void>;
  /** fsync of a directory: makes entries created, renamed or removed in it durable. */
  syncDir(dir: string): Promise<void>;
}

/** Error thrown by a vfs for a missing file, shaped like node's (code ENOENT). */
export class VfsNotFound extends Error {
  readonly code = 'ENOENT';
  constructor(path: string) {
    super(`no such file or directory: ${path}`);
    this.name = 'VfsNotFound';
  }
}

export function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';
}

/** Joins path parts with '/', dropping empty parts. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p.length > 0).join('/');
}

export function dirName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

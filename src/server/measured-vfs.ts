import { performance } from 'node:perf_hooks';
import type { OpenMode, Vfs, VfsFile } from '../storage/vfs.js';

/**
 * A Vfs that times fsyncs of files under one directory (the WAL) and passes everything else
 * through. It sits between the real disk and the engine, so the engine stays free of metrics.
 */
export function measureSyncs(vfs: Vfs, dirPrefix: string, observe: (seconds: number) => void): Vfs {
  return {
    async open(path: string, mode: OpenMode): Promise<VfsFile> {
      const file = await vfs.open(path, mode);
      if (!path.startsWith(dirPrefix)) return file;
      return {
        get path() {
          return file.path;
        },
        size: () => file.size(),
        append: (data) => file.append(data),
        read: (position, length) => file.read(position, length),
        async sync() {
          const t0 = performance.now();
          await file.sync();
          observe((performance.now() - t0) / 1000);
        },
        close: () => file.close(),
      };
    },
    readFile: (path) => vfs.readFile(path),
    exists: (path) => vfs.exists(path),
    list: (dir) => vfs.list(dir),
    mkdir: (dir) => vfs.mkdir(dir),
    rename: (from, to) => vfs.rename(from, to),
    remove: (path) => vfs.remove(path),
    truncate: (path, size) => vfs.truncate(path, size),
    syncDir: (dir) => vfs.syncDir(dir),
  };
}

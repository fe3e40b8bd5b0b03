import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One count-server per data directory: two processes appending to one WAL would corrupt it.
 * The lock is a file holding the owner's pid, created exclusively. A lock left by a process
 * that no longer runs (kill -9, power loss) is stale and taken over.
 */
export const LOCK_FILE = 'count.lock';

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return {
        path,
        release() {
          if (ownerOf(path) === process.pid) unlinkSync(path);
        },
      };
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
    const owner = ownerOf(path);
    if (owner !== undefined && owner !== process.pid && isRunning(owner)) {
      throw new Error(
        `data dir ${dataDir} is in use by process ${owner} (${path}); stop that server or choose another --data-dir`,
      );
    }
    unlinkSync(path); // stale: its owner is gone
  }
  throw new Error(`cannot lock data dir ${dataDir}: ${path} keeps reappearing`);
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as { code?: string }).code === 'EPERM';
  }
}

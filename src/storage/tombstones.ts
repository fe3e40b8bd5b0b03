import { CountError } from '../model/errors.js';
import { checksum } from './block-format.js';
import { writeDurably } from './block-writer.js';
import { isNotFound, type Vfs } from './vfs.js';

/**
 * Series deletions. A tombstone (key, maxBlockSeq) hides the series in every block whose seq is
 * <= maxBlockSeq, i.e. every block that existed or was being written when the delete happened;
 * points written after the delete land in later blocks and stay visible. The set lives in the
 * file `tombstones` (JSON body + crc32, replaced atomically) and is pruned once no block it
 * hides still holds the series.
 */
export const TOMBSTONES_FILE = 'tombstones';
const TMP_FILE = 'tombstones.tmp';
/** A bound on the set; compaction and retention prune it. */
export const MAX_TOMBSTONES = 100_000;

export class Tombstones {
  private readonly byKey = new Map<string, number>();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(private readonly vfs: Vfs) {}

  static async load(vfs: Vfs): Promise<Tombstones> {
    const t = new Tombstones(vfs);
    await vfs.remove(TMP_FILE);
    let bytes: Uint8Array;
    try {
      bytes = await vfs.readFile(TOMBSTONES_FILE);
    } catch (e) {
      if (isNotFound(e)) return t;
      throw e;
    }
    let entries: Array<[string, number]>;
    try {
      const outer = JSON.parse(new TextDecoder().decode(bytes)) as { body: string; crc32: number };
      if (checksum(new TextEncoder().encode(outer.body)) !== outer.crc32) throw new Error('crc');
      entries = JSON.parse(outer.body) as Array<[string, number]>;
    } catch {
      throw new CountError('corrupt_data', 'tombstones file is damaged');
    }
    for (const [key, seq] of entries) t.add(key, seq);
    return t;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Whether the series' data in a block with this seq is deleted. */
  hides(key: string, blockSeq: number): boolean {
    const max = this.byKey.get(key);
    return max !== undefined && blockSeq <= max;
  }

  maxBlockSeq(): number {
    let m = -1;
    for (const s of this.byKey.values()) if (s > m) m = s;
    return m;
  }

  /** Records a tombstone in memory (persist() makes it durable). */
  add(key: string, maxBlockSeq: number): void {
    const prev = this.byKey.get(key);
    if (prev === undefined && this.byKey.size >= MAX_TOMBSTONES) {
      throw new CountError(
        'overloaded',
        `too many series deletions awaiting compaction (${MAX_TOMBSTONES}); retry later`,
        { retryAfterSeconds: 60 },
      );
    }
    if (prev === undefined || maxBlockSeq > prev) {
      this.byKey.set(key, maxBlockSeq);
      this.dirty = true;
    }
  }

  /** Drops the tombstones `stillNeeded` rejects; persist() makes that durable. */
  prune(stillNeeded: (key: string, maxBlockSeq: number) => boolean): number {
    let n = 0;
    for (const [key, seq] of [...this.byKey]) {
      if (!stillNeeded(key, seq)) {
        this.byKey.delete(key);
        n++;
      }
    }
    if (n > 0) this.dirty = true;
    return n;
  }

  /**
   * Writes the current set durably. Calls are serialized; a call resolves once a write that
   * started after it was made has finished, so the caller's additions are on disk.
   */
  persist(): Promise<void> {
    const run = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const body = JSON.stringify([...this.byKey]);
      const text = JSON.stringify({ body, crc32: checksum(new TextEncoder().encode(body)) });
      try {
        await writeDurably(this.vfs, TMP_FILE, new TextEncoder().encode(text));
        await this.vfs.rename(TMP_FILE, TOMBSTONES_FILE);
        await this.vfs.syncDir('');
      } catch (e) {
        this.dirty = true;
        throw e;
      }
    });
    this.writing = run.catch(() => undefined);
    return run;
  }
}

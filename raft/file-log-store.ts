import { assert } from './assert.js';
import { EMPTY_SNAPSHOT } from './bootstrap.js';
import { crc32 } from './crc32.js';
import { RaftError } from './errors.js';
import { decodeRecords, RecordWriter } from './log-records.js';
import { EMPTY_HARD_STATE, hardStateCovering, MemoryLogStore } from './memory-log-store.js';
import type {
  ConfState,
  Entry,
  HardState,
  Index,
  LogStore,
  LogUpdate,
  RaftFile,
  RaftFs,
  Snapshot,
  SnapshotMeta,
  Term,
} from './types.js';

export interface FileLogStoreOptions {
  /** A segment is closed and a new one started past this size. */
  readonly segmentBytes: number;
}

export const DEFAULT_FILE_LOG_STORE_OPTIONS: FileLogStoreOptions = {
  segmentBytes: 16 * 1024 * 1024,
};

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Highest entry index written to it (-1 when none): a segment is dropped once below the snapshot. */
  maxIndex: Index;
}

const SEGMENT_SUFFIX = '.log';
const SNAPSHOT_SUFFIX = '.snap';

/**
 * The durable Raft log, through the RaftFs file interface (NodeVfs in production, the
 * simulator's MemoryVfs in tests). Layout under `dir`:
 *   log/<seq>.log    segments of CRC-checked records (log-records.ts): entries, hard states,
 *                    and "log base" marks written when a leader's snapshot replaces the log
 *   snap/<index>-<term>.snap   the latest snapshot: [u32 crc][u32 meta length][meta json][data]
 * A save is one append and one fsync (none when only the commit index moved: it is advisory).
 * On open, a torn tail of the last segment is cut off; damage anywhere else is `corrupt_log`.
 * Everything since the snapshot is also kept in memory (MemoryLogStore) for the core's reads.
 */
export class FileLogStore implements LogStore {
  private readonly mem: MemoryLogStore;
  private readonly segments: Segment[];
  private current: RaftFile;
  private readonly writer = new RecordWriter();
  /** Term and vote as of the last fsync: a change of either needs one. */
  private durableTerm: Term;
  private durableVote: string | null;
  private busy = false;

  private constructor(
    private readonly fs: RaftFs,
    private readonly dir: string,
    private readonly options: FileLogStoreOptions,
    mem: MemoryLogStore,
    segments: Segment[],
    current: RaftFile,
  ) {
    this.mem = mem;
    this.segments = segments;
    this.current = current;
    const hs = mem.hardState();
    this.durableTerm = hs.term;
    this.durableVote = hs.vote;
  }

  static async open(
    fs: RaftFs,
    dir: string,
    options: FileLogStoreOptions = DEFAULT_FILE_LOG_STORE_OPTIONS,
  ): Promise<FileLogStore> {
    const logDir = `${dir}/log`;
    const snapDir = `${dir}/snap`;
    await fs.mkdir(logDir);
    await fs.mkdir(snapDir);
    const snapshot = await loadNewestSnapshot(fs, snapDir);

    // Replay every segment: entries (a lower index truncates), hard states, log bases.
    let hardState: HardState | null = null;
    let base: { index: Index; term: Term } | null = null;
    let raw: Entry[] = [];
    const names = (await fs.list(logDir)).filter((n) => n.endsWith(SEGMENT_SUFFIX));
    const segments: Segment[] = [];
    for (let i = 0; i < names.length; i++) {
      const path = `${logDir}/${names[i]}`;
      const data = await fs.readFile(path);
      const { records, validBytes } = decodeRecords(data);
      if (validBytes < data.length) {
        if (i < names.length - 1) {
          throw new RaftError(
            'corrupt_log',
            `raft log segment ${path} is damaged at byte ${validBytes}`,
          );
        }
        // The last segment's tail was being written when the process died: cut it off.
        await fs.truncate(path, validBytes);
      }
      const seg: Segment = { seq: parseInt(names[i], 16), path, maxIndex: -1 };
      for (const r of records) {
        if (r.kind === 'hardState') hardState = r.hardState;
        else if (r.kind === 'base') {
          base = { index: r.index, term: r.term };
          raw = [];
        } else {
          const e = r.entry;
          seg.maxIndex = Math.max(seg.maxIndex, e.index);
          const first = raw.length > 0 ? raw[0].index : e.index;
          if (raw.length === 0 || e.index < first) raw = [e];
          else if (e.index <= first + raw.length) {
            raw.length = e.index - first;
            raw.push(e);
          } else {
            throw new RaftError(
              'corrupt_log',
              `raft log has a gap before entry ${e.index} in ${path}`,
            );
          }
        }
      }
      segments.push(seg);
    }

    // Keep the entries after the snapshot only if they continue it (Log Matching): entries that
    // follow a different history are the leftovers of a snapshot install cut short by a crash.
    const meta = snapshot.meta;
    if (base !== null && base.index > meta.index) {
      throw new RaftError('corrupt_log', `raft snapshot ${base.index} is missing or damaged`);
    }
    const termAt = (i: Index): Term | null => {
      if (base !== null && i === base.index) return base.term;
      if (raw.length > 0 && i >= raw[0].index && i < raw[0].index + raw.length) {
        return raw[i - raw[0].index].term;
      }
      return null;
    };
    const continues = meta.index === 0 || termAt(meta.index) === meta.term;
    const kept = continues ? raw.filter((e) => e.index > meta.index) : [];
    if (kept.length > 0 && kept[0].index !== meta.index + 1) {
      throw new RaftError(
        'corrupt_log',
        `raft log starts at ${kept[0].index}, after snapshot ${meta.index}`,
      );
    }
    const mem = new MemoryLogStore(snapshot);
    if (kept.length > 0) mem.appendEntries(kept);
    const hs = hardStateCovering(hardState ?? EMPTY_HARD_STATE, snapshot);
    mem.applyUpdate({
      // The commit index is advisory (it is re-learned); never beyond what the log holds.
      hardState: { ...hs, commit: Math.min(hs.commit, mem.lastIndex()) },
      entries: [],
      snapshot: null,
    });

    let current: RaftFile;
    if (segments.length === 0) {
      const path = segmentPath(logDir, 1);
      current = await fs.open(path, 'create');
      await fs.syncDir(logDir);
      segments.push({ seq: 1, path, maxIndex: -1 });
    } else {
      current = await fs.open(segments[segments.length - 1].path, 'append');
    }
    return new FileLogStore(fs, dir, options, mem, segments, current);
  }

  // ---- LogReader: served from memory ----

  initialState(): { hardState: HardState; conf: ConfState } {
    return this.mem.initialState();
  }
  firstIndex(): Index {
    return this.mem.firstIndex();
  }
  lastIndex(): Index {
    return this.mem.lastIndex();
  }
  term(index: Index): Term | null {
    return this.mem.term(index);
  }
  entries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }
  hardState(): HardState {
    return this.mem.hardState();
  }
  segmentCount(): number {
    return this.segments.length;
  }

  // ---- writes ----

  async save(update: LogUpdate, options: { syncHardState?: boolean } = {}): Promise<void> {
    // The exclusive() section written out: saves are on Raft's hot path, and a closure plus a
    // nested async call per save showed in the simulator's profile.
    assert(!this.busy, 'FileLogStore: concurrent writes (the host must await each save)');
    this.busy = true;
    try {
      const snap = update.snapshot;
      if (snap !== null && snap.meta.index > this.mem.snapshot().meta.index) {
        // A leader's snapshot replaces the whole log: snapshot file first, then a fresh segment
        // that starts with the new log base, then the old segments go.
        await this.writeSnapshotFile(snap);
        this.mem.applySnapshot(snap);
        await this.rotate(snap.meta, update.hardState ?? this.mem.hardState());
        await this.dropSegmentsBefore(this.segments.length - 1);
        await this.removeOldSnapshots(snap.meta);
      }
      const hs = update.hardState;
      const syncHs = options.syncHardState !== false;
      this.writer.reset();
      if (hs !== null && syncHs) this.writer.hardState(hs);
      for (const e of update.entries) this.writer.entry(e);
      const needsSync =
        update.entries.length > 0 ||
        (hs !== null && syncHs && (hs.term !== this.durableTerm || hs.vote !== this.durableVote));
      if (this.writer.length > 0) {
        await this.current.append(this.writer.bytes().slice());
        if (needsSync) await this.current.sync();
      }
      if (hs !== null && !syncHs) {
        // The planted no-vote-fsync bug: the vote is written after the fsync and left unsynced.
        this.writer.reset();
        this.writer.hardState(hs);
        await this.current.append(this.writer.bytes().slice());
      }
      if (needsSync && hs !== null && syncHs) {
        this.durableTerm = hs.term;
        this.durableVote = hs.vote;
      }
      if (update.entries.length > 0) {
        const seg = this.segments[this.segments.length - 1];
        for (const e of update.entries) seg.maxIndex = Math.max(seg.maxIndex, e.index);
      }
      this.mem.applyUpdate({ hardState: hs, entries: update.entries, snapshot: null });
      if (this.current.size() >= this.options.segmentBytes) {
        await this.current.sync();
        await this.rotate(null, this.mem.hardState());
      }
    } finally {
      this.busy = false;
    }
  }

  async compact(snapshot: Snapshot): Promise<void> {
    await this.exclusive(async () => {
      const meta = snapshot.meta;
      if (meta.index <= this.mem.snapshot().meta.index) return;
      assert(meta.index <= this.mem.lastIndex(), 'FileLogStore.compact: snapshot beyond the log');
      await this.writeSnapshotFile(snapshot);
      this.mem.applyCompact(snapshot);
      await this.removeOldSnapshots(meta);
      // Segments wholly below the snapshot are no longer needed; the one holding the snapshot
      // index stays, so recovery can check that the log continues the snapshot.
      let drop = 0;
      while (drop < this.segments.length - 1 && this.segments[drop].maxIndex < meta.index) drop++;
      await this.dropSegmentsBefore(drop);
    });
  }

  async close(): Promise<void> {
    await this.current.close();
  }

  // ---- internals ----

  private async exclusive(fn: () => Promise<void>): Promise<void> {
    assert(!this.busy, 'FileLogStore: concurrent writes (the host must await each save)');
    this.busy = true;
    try {
      await fn();
    } finally {
      this.busy = false;
    }
  }

  /** Starts a new segment that begins with the hard state (so old segments can go). */
  private async rotate(base: SnapshotMeta | null, hs: HardState): Promise<void> {
    const logDir = `${this.dir}/log`;
    await this.current.close();
    const seq = this.segments[this.segments.length - 1].seq + 1;
    const path = segmentPath(logDir, seq);
    const file = await this.fs.open(path, 'create');
    this.writer.reset();
    this.writer.hardState(hs);
    if (base !== null) this.writer.base(base);
    await file.append(this.writer.bytes().slice());
    await file.sync();
    await this.fs.syncDir(logDir);
    this.durableTerm = hs.term;
    this.durableVote = hs.vote;
    this.current = file;
    this.segments.push({ seq, path, maxIndex: -1 });
  }

  private async dropSegmentsBefore(count: number): Promise<void> {
    if (count <= 0) return;
    for (const seg of this.segments.splice(0, count)) await this.fs.remove(seg.path);
    await this.fs.syncDir(`${this.dir}/log`);
  }

  private async writeSnapshotFile(snapshot: Snapshot): Promise<void> {
    const snapDir = `${this.dir}/snap`;
    const name = snapshotName(snapshot.meta);
    const tmp = `${snapDir}/${name}.tmp`;
    const file = await this.fs.open(tmp, 'create');
    await file.append(encodeSnapshot(snapshot));
    await file.sync();
    await file.close();
    await this.fs.rename(tmp, `${snapDir}/${name}`);
    await this.fs.syncDir(snapDir);
  }

  private async removeOldSnapshots(keep: SnapshotMeta): Promise<void> {
    const snapDir = `${this.dir}/snap`;
    const keepName = snapshotName(keep);
    let removed = false;
    for (const name of await this.fs.list(snapDir)) {
      if (name !== keepName) {
        await this.fs.remove(`${snapDir}/${name}`);
        removed = true;
      }
    }
    if (removed) await this.fs.syncDir(snapDir);
  }
}

function segmentPath(logDir: string, seq: number): string {
  return `${logDir}/${seq.toString(16).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

function snapshotName(meta: Pick<SnapshotMeta, 'index' | 'term'>): string {
  const hex = (n: number) => n.toString(16).padStart(16, '0');
  return `${hex(meta.index)}-${hex(meta.term)}${SNAPSHOT_SUFFIX}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const meta = encoder.encode(JSON.stringify(snapshot.meta));
  const out = new Uint8Array(8 + meta.length + snapshot.data.length);
  const view = new DataView(out.buffer);
  view.setUint32(4, meta.length, true);
  out.set(meta, 8);
  out.set(snapshot.data, 8 + meta.length);
  view.setUint32(0, crc32(out.subarray(4)), true);
  return out;
}

export function decodeSnapshot(data: Uint8Array): Snapshot | null {
  if (data.length < 8) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (crc32(data.subarray(4)) !== view.getUint32(0, true)) return null;
  const metaLength = view.getUint32(4, true);
  if (8 + metaLength > data.length) return null;
  const meta = JSON.parse(decoder.decode(data.subarray(8, 8 + metaLength))) as SnapshotMeta;
  return { meta, data: data.slice(8 + metaLength) };
}

/** The newest snapshot file that passes its CRC; leftovers of interrupted writes are removed. */
async function loadNewestSnapshot(fs: RaftFs, snapDir: string): Promise<Snapshot> {
  const names = await fs.list(snapDir);
  for (const name of names) {
    if (!name.endsWith(SNAPSHOT_SUFFIX)) await fs.remove(`${snapDir}/${name}`);
  }
  const snaps = names
    .filter((n) => n.endsWith(SNAPSHOT_SUFFIX))
    .sort()
    .reverse();
  for (const name of snaps) {
    const snap = decodeSnapshot(await fs.readFile(`${snapDir}/${name}`));
    if (snap !== null) return snap;
  }
  return EMPTY_SNAPSHOT;
}

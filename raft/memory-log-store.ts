import { assert } from './assert.js';
import { EMPTY_SNAPSHOT } from './bootstrap.js';
import type {
  ConfState,
  Entry,
  HardState,
  Index,
  LogStore,
  LogUpdate,
  Snapshot,
  Term,
} from './types.js';

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });

/** Rough size of an entry for the byte limits of appends (data plus header). */
export function entrySize(e: Entry): number {
  return e.data.length + 24;
}

/**
 * The log kept in memory: a snapshot plus the entries after it. It is the whole store for the
 * pure-core tests (like etcd's MemoryStorage) and the cache FileLogStore reads from.
 * Writes are synchronous here (`applyUpdate`, `applyCompact`); `save` just wraps them.
 */
export class MemoryLogStore implements LogStore {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  /** ents[i].index === snap.meta.index + 1 + i */
  private ents: Entry[] = [];

  constructor(snapshot: Snapshot = EMPTY_SNAPSHOT, hardState?: HardState) {
    this.snap = snapshot;
    this.hard = hardState ?? {
      term: snapshot.meta.term,
      vote: null,
      commit: snapshot.meta.index,
    };
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hard, conf: this.snap.meta.conf };
  }

  hardState(): HardState {
    return this.hard;
  }

  firstIndex(): Index {
    return this.snap.meta.index + 1;
  }

  lastIndex(): Index {
    return this.snap.meta.index + this.ents.length;
  }

  term(index: Index): Term | null {
    const offset = this.snap.meta.index;
    if (index === offset) return this.snap.meta.term;
    if (index < offset || index > this.lastIndex()) return null;
    return this.ents[index - offset - 1].term;
  }

  entries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    assert(
      lo >= this.firstIndex() && lo <= hi && hi <= this.lastIndex() + 1,
      `MemoryLogStore.entries: [${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`,
    );
    const offset = this.snap.meta.index + 1;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset];
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** All entries after the snapshot (for tests and the file store's rewrite). */
  allEntries(): readonly Entry[] {
    return this.ents;
  }

  async save(update: LogUpdate): Promise<void> {
    this.applyUpdate(update);
  }

  async compact(snapshot: Snapshot): Promise<void> {
    this.applyCompact(snapshot);
  }

  async close(): Promise<void> {}

  applyUpdate(update: LogUpdate): void {
    if (update.snapshot !== null) this.applySnapshot(update.snapshot);
    if (update.entries.length > 0) this.appendEntries(update.entries);
    if (update.hardState !== null) this.hard = update.hardState;
  }

  /** A snapshot from the leader replaces the whole log. */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.meta.index <= this.snap.meta.index) return;
    this.snap = snapshot;
    this.ents = [];
    this.hard = hardStateCovering(this.hard, snapshot);
  }

  /** Appends, dropping any entries at or after the first new index (a conflicting suffix). */
  appendEntries(entries: readonly Entry[]): void {
    const first = entries[0].index;
    for (let i = 1; i < entries.length; i++) {
      assert(entries[i].index === first + i, 'MemoryLogStore.append: indexes not contiguous');
    }
    // Entries at or below the snapshot are already compacted: skip them.
    const skip = Math.max(0, this.snap.meta.index + 1 - first);
    if (skip >= entries.length) return;
    const start = first + skip;
    assert(
      start <= this.lastIndex() + 1,
      `MemoryLogStore.append: gap (last ${this.lastIndex()}, append at ${start})`,
    );
    this.ents.length = start - this.snap.meta.index - 1;
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]);
  }

  /** Replaces the snapshot with a newer one the state machine made, keeping later entries. */
  applyCompact(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    if (index <= this.snap.meta.index) return;
    assert(index <= this.lastIndex(), 'MemoryLogStore.compact: snapshot beyond the log');
    assert(
      this.term(index) === snapshot.meta.term,
      'MemoryLogStore.compact: snapshot term differs from the log',
    );
    this.ents = this.ents.slice(index - this.snap.meta.index);
    this.snap = snapshot;
  }
}

/** A hard state no older than a snapshot: its term and commit point are known to be reached. */
export function hardStateCovering(hs: HardState, snapshot: Snapshot): HardState {
  const { index, term } = snapshot.meta;
  if (hs.term >= term && hs.commit >= index) return hs;
  return {
    term: Math.max(hs.term, term),
    vote: term > hs.term ? null : hs.vote,
    commit: Math.max(hs.commit, index),
  };
}

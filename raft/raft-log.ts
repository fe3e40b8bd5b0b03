import { assert, RaftInvariantViolation } from './assert.js';
import { entrySize } from './memory-log-store.js';
import type { Entry, Index, LogReader, Snapshot, Term } from './types.js';

/**
 * The core's view of the log: what the store holds (read through LogReader) plus what is not
 * yet persisted (`unstable`: a snapshot from the leader and/or entries appended since the last
 * Ready). The safety checks on the log live here: nothing committed is ever truncated, and
 * the commit index never goes back.
 */
export class RaftLog {
  /** Entries not yet persisted; unstable[i].index === unstableOffset + i. */
  private unstable: Entry[] = [];
  private unstableOffset: Index;
  /** A snapshot received from the leader, not yet persisted. */
  private unstableSnapshot: Snapshot | null = null;
  committed: Index;
  /** Highest index handed to the host to apply. */
  applying: Index;
  /** Highest index the host has acknowledged as applied. */
  applied: Index;

  constructor(
    readonly storage: LogReader,
    committed: Index,
    applied: Index,
  ) {
    this.unstableOffset = storage.lastIndex() + 1;
    const snapIndex = storage.firstIndex() - 1;
    this.committed = Math.max(committed, snapIndex);
    assert(
      this.committed <= storage.lastIndex(),
      `RaftLog: commit ${committed} beyond the stored log (${storage.lastIndex()})`,
    );
    this.applied = Math.max(applied, snapIndex);
    assert(this.applied <= this.committed, 'RaftLog: applied beyond commit');
    this.applying = this.applied;
  }

  firstIndex(): Index {
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): Index {
    if (this.unstable.length > 0) return this.unstableOffset + this.unstable.length - 1;
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Term at `index`, or null when compacted or beyond the log. */
  term(index: Index): Term | null {
    if (index >= this.unstableOffset) {
      const i = index - this.unstableOffset;
      return i < this.unstable.length ? this.unstable[i].term : null;
    }
    if (this.unstableSnapshot !== null) {
      return index === this.unstableSnapshot.meta.index ? this.unstableSnapshot.meta.term : null;
    }
    return this.storage.term(index);
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== null, 'RaftLog: no term for the last index');
    return t;
  }

  matchTerm(index: Index, term: Term): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi), at least one then up to maxBytes; lo must be >= firstIndex. */
  slice(lo: Index, hi: Index, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    // Messages are built only on failure: slice, append and appliedTo run on every Ready.
    if (lo < this.firstIndex()) {
      throw new RaftInvariantViolation(`RaftLog.slice: ${lo} is compacted`);
    }
    if (hi > this.lastIndex() + 1) {
      throw new RaftInvariantViolation(`RaftLog.slice: ${hi} beyond the log`);
    }
    let out: Entry[] = [];
    let bytes = 0;
    if (lo < this.unstableOffset) {
      const storedHi = Math.min(hi, this.unstableOffset);
      out = this.storage.entries(lo, storedHi, maxBytes);
      for (const e of out) bytes += entrySize(e);
      if (out.length < storedHi - lo) return out;
    }
    for (let i = Math.max(lo, this.unstableOffset); i < hi; i++) {
      const e = this.unstable[i - this.unstableOffset];
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** The index of the first entry whose term differs from ours (0 if none; new entries count). */
  findConflict(entries: readonly Entry[]): Index {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`. Indexes at or
   * below the compaction point count as matching (they are committed).
   */
  findConflictByTerm(index: Index, term: Term): Index {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === null || t <= term) return i;
      i--;
    }
  }

  /**
   * AppendEntries on a follower: returns the last index the leader's message covers, or null
   * when our log does not contain (prevIndex, prevTerm).
   */
  maybeAppend(
    prevIndex: Index,
    prevTerm: Term,
    commit: Index,
    entries: readonly Entry[],
  ): Index | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    for (let i = 0; i < entries.length; i++) {
      assert(entries[i].index === prevIndex + 1 + i, 'append: entry indexes not contiguous');
    }
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(
        conflict > this.committed,
        `append: entry ${conflict} conflicts with committed entry (commit ${this.committed})`,
      );
      this.append(entries.slice(conflict - prevIndex - 1));
    }
    // Log matching: after the append our log holds the leader's entries up to lastNew.
    if (entries.length > 0) {
      assert(
        this.term(lastNew) === entries[entries.length - 1].term,
        'append: log matching violated after append',
      );
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends after truncating any conflicting suffix; returns the new last index. */
  append(entries: readonly Entry[]): Index {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0].index;
    if (first <= this.committed) {
      throw new RaftInvariantViolation(`append: truncating committed entry ${first}`);
    }
    if (first > this.lastIndex() + 1) {
      throw new RaftInvariantViolation(`append: gap before ${first}`);
    }
    if (first === this.unstableOffset + this.unstable.length) {
      for (const e of entries) this.unstable.push(e);
    } else if (first <= this.unstableOffset) {
      // Replaces all unstable entries (and the stored suffix from `first`, when persisted).
      this.unstableOffset = first;
      this.unstable = [...entries];
    } else {
      this.unstable.length = first - this.unstableOffset;
      for (const e of entries) this.unstable.push(e);
    }
    return this.lastIndex();
  }

  commitTo(index: Index): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new RaftInvariantViolation(
        `commitTo(${index}) beyond the last index ${this.lastIndex()}`,
      );
    }
    this.committed = index;
  }

  hasPendingSnapshot(): boolean {
    return this.unstableSnapshot !== null;
  }

  pendingSnapshot(): Snapshot | null {
    return this.unstableSnapshot;
  }

  /** The latest snapshot: the unstable one, else the stored one. */
  snapshot(): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }

  /** The last index the host has persisted (what a leader may count for itself). */
  stableLastIndex(): Index {
    return this.unstable.length > 0 ? this.unstableOffset - 1 : this.lastIndex();
  }

  hasUnstableEntries(): boolean {
    return this.unstable.length > 0;
  }

  unstableEntries(): Entry[] {
    return this.unstable.slice();
  }

  /** Committed entries not yet handed out, at most `max`; none while a snapshot is pending. */
  nextCommittedEntries(max: number, maxBytes: number): Entry[] {
    if (this.unstableSnapshot !== null) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = Math.min(this.committed + 1, lo + max);
    return this.slice(lo, hi, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return this.unstableSnapshot === null && this.committed > this.applying;
  }

  /** The host persisted entries up to (index, term). */
  stableTo(index: Index, term: Term): void {
    if (index < this.unstableOffset) return;
    const i = index - this.unstableOffset;
    if (i >= this.unstable.length || this.unstable[i].term !== term) return;
    this.unstable = this.unstable.slice(i + 1);
    this.unstableOffset = index + 1;
  }

  stableSnapTo(index: Index): void {
    if (this.unstableSnapshot !== null && this.unstableSnapshot.meta.index === index) {
      this.unstableSnapshot = null;
    }
  }

  appliedTo(index: Index): void {
    if (index > this.committed) {
      throw new RaftInvariantViolation(`appliedTo(${index}) beyond commit ${this.committed}`);
    }
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
  }

  /** Replaces the log with a snapshot from the leader. */
  restore(snapshot: Snapshot): void {
    assert(
      snapshot.meta.index > this.committed,
      'restore: snapshot is not newer than the commit index',
    );
    this.unstableSnapshot = snapshot;
    this.unstable = [];
    this.unstableOffset = snapshot.meta.index + 1;
    this.committed = snapshot.meta.index;
  }

  /** Called when the host has restored the state machine from the snapshot. */
  snapshotApplied(index: Index): void {
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
  }
}

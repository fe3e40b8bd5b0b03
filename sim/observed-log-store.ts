import type { LogStore, LogUpdate, Snapshot } from '../raft/types.js';

/**
 * A LogStore decorator that shows each save to the checkers: before it (the log as it was, to
 * catch a committed index being rewritten) and after it (what the node now holds durably).
 */
export class ObservedLogStore implements LogStore {
  constructor(
    readonly inner: LogStore,
    private readonly beforeSave: (update: LogUpdate, log: LogStore) => void,
    private readonly onSaved: (update: LogUpdate) => void,
  ) {}

  initialState() {
    return this.inner.initialState();
  }
  firstIndex() {
    return this.inner.firstIndex();
  }
  lastIndex() {
    return this.inner.lastIndex();
  }
  term(index: number) {
    return this.inner.term(index);
  }
  entries(lo: number, hi: number, maxBytes: number) {
    return this.inner.entries(lo, hi, maxBytes);
  }
  snapshot() {
    return this.inner.snapshot();
  }

  save(update: LogUpdate, options?: { syncHardState?: boolean }): Promise<void> {
    this.beforeSave(update, this.inner);
    // A plain continuation, not an async function: one promise per save instead of three.
    return this.inner.save(update, options).then(() => this.onSaved(update));
  }

  compact(snapshot: Snapshot): Promise<void> {
    return this.inner.compact(snapshot);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

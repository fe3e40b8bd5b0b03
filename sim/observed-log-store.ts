import type { LogStore, LogUpdate, Snapshot } from '../raft/types.js';

/**
 * A LogStore decorator that reports each completed save to the checkers, so they see every
 * entry a node has made durable at the moment it did (e.g. a committed index overwritten).
 */
export class ObservedLogStore implements LogStore {
  constructor(
    readonly inner: LogStore,
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

  async save(update: LogUpdate, options?: { syncHardState?: boolean }): Promise<void> {
    await this.inner.save(update, options);
    this.onSaved(update);
  }

  compact(snapshot: Snapshot): Promise<void> {
    return this.inner.compact(snapshot);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

import { EMPTY_SNAPSHOT } from '../raft/bootstrap.js';
import { MemoryLogStore } from '../raft/memory-log-store.js';
import type { LogStore, LogUpdate, Snapshot } from '../raft/types.js';

/**
 * A node's Raft log as the simulator's disk keeps it, modelled at the level of the LogStore
 * contract: what `save` made durable survives a crash, and a hard state saved with
 * `syncHardState: false` (the no-vote-fsync bug) does not. Each incarnation of the node opens
 * the store afresh from the durable state; a crashed incarnation's writes are fenced off.
 *
 * This stands in for raft/'s FileLogStore over MemoryVfs, which models the same at the byte
 * level, until that store exists.
 */
export class SimLogDisk {
  private durable: MemoryLogStore;

  constructor(snapshot: Snapshot = EMPTY_SNAPSHOT) {
    this.durable = new MemoryLogStore(snapshot);
  }

  /** Boots an incarnation: its store starts from what is durable. */
  open(onSaved: (update: LogUpdate) => void = () => {}): SimLogStore {
    const live = copyStore(this.durable);
    return new SimLogStore(live, this, onSaved);
  }

  /** Wipes the disk (a removed node rejoins empty). */
  wipe(): void {
    this.durable = new MemoryLogStore(EMPTY_SNAPSHOT);
  }

  /** @internal the durable half of a save. */
  persist(update: LogUpdate, syncHardState: boolean): void {
    this.durable.applyUpdate({
      snapshot: update.snapshot,
      entries: update.entries,
      hardState: syncHardState ? update.hardState : null,
    });
  }

  /** @internal */
  compact(snapshot: Snapshot): void {
    this.durable.applyCompact(snapshot);
  }
}

function copyStore(from: MemoryLogStore): MemoryLogStore {
  const copy = new MemoryLogStore(from.snapshot(), from.hardState());
  const entries = from.allEntries();
  if (entries.length > 0) copy.appendEntries(entries);
  return copy;
}

export class SimLogStore implements LogStore {
  private alive = true;

  constructor(
    private readonly live: MemoryLogStore,
    private readonly disk: SimLogDisk,
    private readonly onSaved: (update: LogUpdate) => void,
  ) {}

  /** The incarnation died: later writes from it never reach the disk. */
  fence(): void {
    this.alive = false;
  }

  initialState() {
    return this.live.initialState();
  }
  firstIndex() {
    return this.live.firstIndex();
  }
  lastIndex() {
    return this.live.lastIndex();
  }
  term(index: number) {
    return this.live.term(index);
  }
  entries(lo: number, hi: number, maxBytes: number) {
    return this.live.entries(lo, hi, maxBytes);
  }
  snapshot() {
    return this.live.snapshot();
  }
  hardState() {
    return this.live.hardState();
  }

  async save(update: LogUpdate, options?: { syncHardState?: boolean }): Promise<void> {
    if (!this.alive) throw new Error('SimLogStore: the node crashed');
    this.live.applyUpdate(update);
    this.disk.persist(update, options?.syncHardState !== false);
    this.onSaved(update);
  }

  async compact(snapshot: Snapshot): Promise<void> {
    if (!this.alive) throw new Error('SimLogStore: the node crashed');
    this.live.applyCompact(snapshot);
    this.disk.compact(snapshot);
  }

  async close(): Promise<void> {}
}

import { applyConfChange, decodeConfChange } from './conf-change.js';
import { RaftError } from './errors.js';
import { RaftCore } from './raft.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  Index,
  LogStore,
  Message,
  NodeId,
  RaftErrorCode,
  RaftHost,
  RaftRuntimeOptions,
  Ready,
  RequestResult,
  Snapshot,
  Status,
  Term,
} from './types.js';

interface PendingProposal {
  readonly term: Term;
  readonly conf: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: RaftError) => void;
}

interface PendingRead {
  /** Set once the ReadIndex round completed. */
  index: Index | null;
  readonly resolve: () => void;
  readonly reject: (error: RaftError) => void;
}

const MESSAGES: Record<RaftErrorCode, string> = {
  not_leader: 'this node is not the Raft leader',
  transferring: 'a leadership transfer is in progress',
  overloaded: 'too many pending Raft requests',
  conf_change_pending: 'another membership change is still pending',
  invalid_conf_change: 'the membership change does not fit the current membership',
  unknown_node: 'the node is not a member',
  learner_behind: 'the learner has not caught up yet',
  read_not_ready: 'the leader has not committed an entry of its term yet',
  dropped: 'the proposal was overwritten by a new leader before it committed',
  unknown_outcome: 'the proposal may or may not have been applied (a snapshot replaced the log)',
  stopped: 'the Raft node is stopped',
  corrupt_log: 'the Raft log is corrupt',
};

/**
 * These errors are answers (not leader, overloaded, stopped), sent to callers often and by
 * design; capturing a stack for each one was a hot spot, and the stack says nothing useful.
 */
function raftError(code: RaftErrorCode, leader: NodeId | null): RaftError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new RaftError(code, MESSAGES[code], leader);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * The thin host loop around RaftCore, the same in production and in the simulator: tick on a
 * timer, feed messages, and for each Ready persist (with fsync), then send, then apply, then
 * advance. One Ready is in progress at a time; messages that arrive meanwhile are stepped at once.
 */
export class RaftRuntime implements RaftHost {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly opts: RaftRuntimeOptions;
  private readonly store: LogStore;
  private readonly proposals = new Map<Index, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  private applied: Index;
  private conf: ConfState;
  private leader: NodeId | null = null;
  private term: Term;
  private lastSnapshotIndex: Index;
  /** A state machine snapshot waiting until `keepEntries` more entries are applied. */
  private nextSnapshot: Snapshot | null = null;
  private timer: { cancel(): void } | null = null;
  private processing = false;
  private stopped = false;

  constructor(options: RaftRuntimeOptions) {
    this.opts = options;
    this.id = options.config.id;
    this.store = options.store;
    const snap = this.store.snapshot();
    // The state machine lives in memory: it restarts from the snapshot and replays the log.
    if (snap.meta.index > 0) options.stateMachine.restore(snap);
    this.applied = snap.meta.index;
    this.lastSnapshotIndex = snap.meta.index;
    this.conf = snap.meta.conf;
    this.term = this.store.initialState().hardState.term;
    this.core = new RaftCore({ ...options.config, storage: this.store, applied: this.applied });
  }

  start(): void {
    if (this.stopped || this.timer !== null) return;
    this.scheduleTick();
    this.kick();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.failAll('stopped');
  }

  isStopped(): boolean {
    return this.stopped;
  }

  receive(message: Message): void {
    if (this.stopped) return;
    // Inline rather than guard(): a closure per message shows in the simulator's profile.
    try {
      this.core.step(message);
    } catch (e) {
      this.fatal(e);
    }
    this.kick();
  }

  propose(data: Uint8Array): Promise<unknown> {
    return this.submit(false, () => this.core.propose(data));
  }

  proposeConfChange(change: ConfChange): Promise<ConfState> {
    return this.submit(true, () => this.core.proposeConfChange(change)) as Promise<ConfState>;
  }

  read(): Promise<void> {
    if (this.stopped) return Promise.reject(raftError('stopped', this.leader));
    if (this.reads.size >= this.opts.maxPending) {
      return Promise.reject(raftError('overloaded', this.leader));
    }
    const ctx = `${this.id}:${++this.readSeq}`;
    const result = this.core.readIndex(ctx);
    if (!result.ok) return Promise.reject(raftError(result.code, result.leader));
    const promise = new Promise<void>((resolve, reject) => {
      this.reads.set(ctx, { index: null, resolve, reject });
    });
    this.kick();
    return promise;
  }

  transferLeader(to: NodeId): RequestResult {
    if (this.stopped) return { ok: false, code: 'stopped', leader: this.leader };
    const result = this.core.transferLeader(to);
    this.kick();
    return result;
  }

  status(): Status {
    return this.core.status();
  }

  // -------------------------------------------------------------------------------------------

  private submit(conf: boolean, propose: () => ReturnType<RaftCore['propose']>): Promise<unknown> {
    if (this.stopped) return Promise.reject(raftError('stopped', this.leader));
    if (this.proposals.size >= this.opts.maxPending) {
      return Promise.reject(raftError('overloaded', this.leader));
    }
    const result = propose();
    if (!result.ok) return Promise.reject(raftError(result.code, result.leader));
    const promise = new Promise<unknown>((resolve, reject) => {
      this.proposals.set(result.index, { term: result.term, conf, resolve, reject });
    });
    this.kick();
    return promise;
  }

  private scheduleTick(): void {
    this.timer = this.opts.timers.setTimer(this.opts.tickMs, () => {
      if (this.stopped) return;
      this.guard(() => this.core.tick());
      this.scheduleTick();
      this.kick();
    });
  }

  private kick(): void {
    // Checked here too: most ticks and many messages leave nothing to do, and an idle pass
    // through the async loop still costs a promise.
    if (this.processing || this.stopped || !this.core.hasReady()) return;
    void this.processReadies();
  }

  private async processReadies(): Promise<void> {
    this.processing = true;
    try {
      while (!this.stopped && this.core.hasReady()) {
        const rd = this.core.ready();
        // A leader's messages may leave while its own entries are being written.
        if (rd.sendBeforePersist) for (const m of rd.messages) this.opts.transport.send(m);
        // Awaited only when there is a write: an await of nothing is a microtask turn per Ready.
        const saved = this.persist(rd);
        if (saved !== null) await saved;
        if (this.stopped) return;
        if (!rd.sendBeforePersist) for (const m of rd.messages) this.opts.transport.send(m);
        this.applyReady(rd);
        this.core.advance(rd);
        const compacted = this.maybeSnapshot();
        if (compacted !== null) await compacted;
      }
    } catch (e) {
      this.fatal(e);
    } finally {
      this.processing = false;
    }
  }

  /** The write for this Ready, or null when it has nothing to persist. */
  private persist(rd: Ready): Promise<void> | null {
    if (rd.hardState === null && rd.entries.length === 0 && rd.snapshot === null) return null;
    // The planted no-vote-fsync bug: a vote change is written but not made durable.
    const skipVoteSync = rd.voteChanged && this.opts.config.bugs.has('no-vote-fsync');
    return this.store.save(
      { hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot },
      { syncHardState: !skipVoteSync },
    );
  }

  private applyReady(rd: Ready): void {
    const sm = this.opts.stateMachine;
    if (rd.softState !== null) this.leader = rd.softState.leader;
    // Read rounds not yet confirmed died with the leadership (or with its term, when this node
    // lost and regained leadership between two Readys).
    const lostTerm = rd.hardState !== null && rd.hardState.term !== this.term;
    if (rd.hardState !== null) this.term = rd.hardState.term;
    if (lostTerm || (rd.softState !== null && rd.softState.role !== 'leader')) {
      for (const [ctx, r] of this.reads) {
        if (r.index === null) {
          this.reads.delete(ctx);
          r.reject(raftError('not_leader', this.leader));
        }
      }
    }
    // A leader only appends to its log; only a follower's log can lose entries.
    if (rd.entries.length > 0 && !this.core.isLeader()) this.rejectOverwritten(rd.entries[0].index);
    if (rd.snapshot !== null) {
      sm.restore(rd.snapshot);
      this.applied = rd.snapshot.meta.index;
      this.lastSnapshotIndex = rd.snapshot.meta.index;
      this.conf = rd.snapshot.meta.conf;
      this.nextSnapshot = null;
      for (const [index, p] of this.proposals) {
        if (index <= this.applied) {
          this.proposals.delete(index);
          p.reject(raftError('unknown_outcome', this.leader));
        }
      }
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.ctx);
      if (r !== undefined) r.index = rs.index;
    }
    this.releaseReads();
  }

  private applyEntry(e: Entry): void {
    const sm = this.opts.stateMachine;
    let result: unknown;
    if (e.type === 'conf') {
      const change = decodeConfChange(e.data);
      this.conf = applyConfChange(this.conf, change);
      sm.applyConfChange?.(change, e, this.conf);
      result = this.conf;
    } else if (e.data.length > 0) {
      result = sm.apply(e);
    }
    this.applied = e.index;
    const p = this.proposals.get(e.index);
    if (p !== undefined) {
      this.proposals.delete(e.index);
      // Another term at our index: a new leader overwrote the proposal before it committed.
      if (p.term === e.term) p.resolve(result);
      else p.reject(raftError('dropped', this.leader));
    }
  }

  /**
   * Entries from `from` on were just replaced by a leader's: a proposal whose index no longer
   * holds its term can never commit (Log Matching: the entry that replaced it differs, and so
   * does every later leader's entry at that index).
   */
  private rejectOverwritten(from: Index): void {
    for (const [index, p] of this.proposals) {
      if (index < from || this.core.logTerm(index) === p.term) continue;
      this.proposals.delete(index);
      p.reject(raftError('dropped', this.leader));
    }
  }

  private releaseReads(): void {
    for (const [ctx, r] of this.reads) {
      if (r.index !== null && r.index <= this.applied) {
        this.reads.delete(ctx);
        r.resolve();
      }
    }
  }

  /**
   * Snapshots the state machine every `snapshotEvery` entries; the snapshot is installed (and
   * the log compacted) only `keepEntries` entries later, so followers a little behind still
   * catch up from the log.
   */
  private maybeSnapshot(): Promise<void> | null {
    const every = this.opts.snapshotEvery;
    if (every <= 0) return null;
    if (this.nextSnapshot === null && this.applied - this.lastSnapshotIndex >= every) {
      const term = this.store.term(this.applied);
      if (term === null) return null;
      this.nextSnapshot = {
        meta: { index: this.applied, term, conf: this.conf },
        data: this.opts.stateMachine.snapshot(),
      };
    }
    const next = this.nextSnapshot;
    if (next !== null && this.applied >= next.meta.index + this.opts.keepEntries) {
      this.nextSnapshot = null;
      this.lastSnapshotIndex = next.meta.index;
      return this.store.compact(next);
    }
    return null;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fatal(e);
    }
  }

  private fatal(error: unknown): void {
    if (this.stopped) return;
    this.stop();
    this.opts.onFatal?.(error);
  }

  private failAll(code: RaftErrorCode): void {
    for (const p of this.proposals.values()) p.reject(raftError(code, this.leader));
    for (const r of this.reads.values()) r.reject(raftError(code, this.leader));
    this.proposals.clear();
    this.reads.clear();
  }
}

/**
 * The public API of Count's Raft library. raft/ imports nothing from src/: everything it needs
 * from the outside (random numbers, storage, files, timers, the network) is declared here as an
 * interface, so the same core runs in production and in the deterministic simulator.
 *
 * The core (RaftCore, raft/raft.ts) is sans-I/O in the style of etcd's raft: feed it `tick()`
 * and `step(message)`, ask it to `propose`, then take a `Ready` (what to persist, what to send,
 * what to apply), do it in that order (persist before send) and call `advance(ready)`.
 * The runtime (raft/runtime.ts) is the thin host loop that does exactly that.
 */

/** A node's name, unique in the group ("n1"). */
export type NodeId = string;
/** A Raft term; 0 means "none yet". */
export type Term = number;
/** A log position; the first real entry has index 1 (index 0 is the empty log). */
export type Index = number;

// ---------------------------------------------------------------------------------------------
// Log entries, hard state, snapshots, membership
// ---------------------------------------------------------------------------------------------

/**
 * `normal` entries carry the application's command (an empty one is the no-op a new leader
 * appends); `conf` entries carry an encoded ConfChange (raft/conf-change.ts).
 */
export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly index: Index;
  readonly term: Term;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log. `commit` is kept so restarts re-apply less. */
export interface HardState {
  readonly term: Term;
  /** Who this node voted for in `term`, or null. */
  readonly vote: NodeId | null;
  readonly commit: Index;
}

/** The membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * Membership changes go one server at a time with at most one uncommitted change (see
 * docs/raft.md for why not joint consensus). A new voter must first be a learner that has caught
 * up (`addVoter` promotes a learner); `removeNode` removes a voter or a learner.
 */
export type ConfChangeType = 'addLearner' | 'addVoter' | 'removeNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
  /** Opaque to Raft (e.g. the node's address), handed back with the applied entry. */
  readonly context: string;
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  readonly index: Index;
  readonly term: Term;
  /** The membership as of `index`. */
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's serialized state at `meta.index`. */
  readonly data: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term (for a pre-vote request: the term it would campaign in). */
  readonly term: Term;
}

/** AppendEntries. `commit` is the leader's commit index. */
export interface AppendMessage extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: Index;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: Index;
}

/**
 * On success `index` is the last index now known to match the leader. On reject `index` is the
 * rejected `prevIndex`, and (`hintIndex`, `hintTerm`) is the follower's last entry at or below
 * it whose term is <= the leader's `prevTerm`, so the leader skips a whole term per round trip
 * (fast backtracking, as in etcd).
 */
export interface AppendResponse extends MessageBase {
  readonly type: 'appendResp';
  readonly reject: boolean;
  readonly index: Index;
  readonly hintIndex: Index;
  readonly hintTerm: Term;
}

/** RequestVote, or PreVote when `pre` (then `term` is the candidate's term + 1, not adopted). */
export interface VoteMessage extends MessageBase {
  readonly type: 'vote';
  readonly pre: boolean;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** Sent after TimeoutNow: voters ignore their leader lease for a leadership transfer. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: 'voteResp';
  readonly pre: boolean;
  readonly granted: boolean;
}

/**
 * Heartbeat: keeps followers from campaigning and carries the commit index (capped at what the
 * follower is known to hold). A non-null `ctx` is a ReadIndex round the response must echo.
 */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: Index;
  readonly ctx: string | null;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeatResp';
  readonly ctx: string | null;
}

/** One chunk of InstallSnapshot; the last chunk is the one with offset + data.length = total. */
export interface SnapshotChunkMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly total: number;
  readonly data: Uint8Array;
}

/** Acknowledges snapshot chunks: `offset` is the next byte wanted (total when done). */
export interface SnapshotChunkResponse extends MessageBase {
  readonly type: 'snapshotResp';
  readonly index: Index;
  readonly offset: number;
  readonly reject: boolean;
}

/** Leadership transfer: the target campaigns at once, skipping pre-vote. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeoutNow';
}

export type Message =
  | AppendMessage
  | AppendResponse
  | VoteMessage
  | VoteResponse
  | HeartbeatMessage
  | HeartbeatResponse
  | SnapshotChunkMessage
  | SnapshotChunkResponse
  | TimeoutNowMessage;

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------------------------
// The core
// ---------------------------------------------------------------------------------------------

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state the host may want to show or react to (leader changes). */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
}

/** A completed ReadIndex: once the state machine has applied `index`, reading it is linearizable. */
export interface ReadState {
  readonly ctx: string;
  readonly index: Index;
}

/**
 * The work the host must do, in this order: persist `snapshot`, `entries` and `hardState`
 * (fsync when `mustSync`); then send `messages` (or send them first when `sendBeforePersist`);
 * then apply `snapshot` and `committedEntries` to the state machine; then call `advance(ready)`.
 */
export interface Ready {
  /** Set when the role or leader changed since the last Ready. */
  readonly softState: SoftState | null;
  /** Set when term, vote or commit changed since the last Ready. */
  readonly hardState: HardState | null;
  /** Entries to append to the log store (they may overwrite a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: persist it, then restore the state machine from it. */
  readonly snapshot: Snapshot | null;
  /** Committed entries to apply, in order. */
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** True when the term, vote or entries changed: the host must fsync before sending. */
  readonly mustSync: boolean;
  /** True when the term or vote changed: the fsync the no-vote-fsync bug skips. */
  readonly voteChanged: boolean;
  /**
   * True when every message was produced by a leader in a term whose vote is already durable:
   * the host may send them before (or while) persisting, as the leader counts its own entries
   * toward commit only once they are persisted (Raft dissertation §10.2.1).
   */
  readonly sendBeforePersist: boolean;
}

export type RaftErrorCode =
  /** this node is not the leader; `leader` says who is, when known */
  | 'not_leader'
  /** a leadership transfer is in progress; retry after it */
  | 'transferring'
  /** too many uncommitted proposals (the bound of maxUncommittedEntries) */
  | 'overloaded'
  /** another membership change is not yet applied */
  | 'conf_change_pending'
  /** the change makes no sense for the current membership (unknown node, already a voter...) */
  | 'invalid_conf_change'
  /** the node named is not a member (or not a voter, for a leadership transfer) */
  | 'unknown_node'
  /** a learner must have caught up with the commit index before it is promoted */
  | 'learner_behind'
  /** ReadIndex before the leader has committed an entry of its own term */
  | 'read_not_ready'
  /** a proposal was dropped or overwritten by a new leader before it committed */
  | 'dropped'
  /** the node lost track of the proposal (a snapshot replaced its log): it may have applied */
  | 'unknown_outcome'
  /** the runtime is stopped */
  | 'stopped'
  /** the log store found corrupt data it could not recover from */
  | 'corrupt_log';

export type ProposeResult =
  | { readonly ok: true; readonly index: Index; readonly term: Term }
  | { readonly ok: false; readonly code: RaftErrorCode; readonly leader: NodeId | null };

export type RequestResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: RaftErrorCode; readonly leader: NodeId | null };

export interface Progress {
  readonly match: Index;
  readonly next: Index;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  readonly inflight: number;
  readonly learner: boolean;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  readonly lastIndex: Index;
  readonly firstIndex: Index;
  readonly conf: ConfState;
  /** Leader only: one entry per other member. */
  readonly progress: ReadonlyMap<NodeId, Progress>;
  readonly transferee: NodeId | null;
}

/**
 * The sans-I/O Raft state machine of one node (implemented by RaftCore in raft/raft.ts).
 * Nothing here does I/O or reads a clock; time is `tick()`.
 */
export interface RawNode {
  readonly id: NodeId;
  /** One logical clock tick (the runtime calls it every `tickMs`). */
  tick(): void;
  /** Feeds a message from a peer. Messages addressed elsewhere or malformed are dropped. */
  step(message: Message): void;
  /** Leader: appends `data` and returns its index and term; otherwise refuses with the leader. */
  propose(data: Uint8Array): ProposeResult;
  /** Leader: appends a membership change, refused while another is unapplied. */
  proposeConfChange(change: ConfChange): ProposeResult;
  /**
   * Leader: starts a ReadIndex round; the result arrives as a ReadState in a later Ready.
   * Refused until the leader has committed an entry of its own term, and on followers.
   */
  readIndex(ctx: string): RequestResult;
  /** Leader: hands leadership to `to` once it is caught up, or gives up after an election timeout. */
  transferLeader(to: NodeId): RequestResult;
  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void;
  hasReady(): boolean;
  ready(): Ready;
  /** Acknowledges that everything in `ready` was persisted, sent and applied. */
  advance(ready: Ready): void;
  status(): Status;
}

// ---------------------------------------------------------------------------------------------
// Configuration and planted bugs
// ---------------------------------------------------------------------------------------------

/**
 * Known bugs the simulator plants (`--bug <name>`) to prove its checkers catch them:
 * - old-term-commit: count replicas of old-term entries to advance commit (breaks Figure 8)
 * - no-vote-fsync: the runtime skips the fsync when only the term/vote changed
 * - stale-vote: grant votes to candidates whose log is less up to date
 * - early-read-index: serve ReadIndex before the leader committed an entry of its term
 */
export type BugName = 'old-term-commit' | 'no-vote-fsync' | 'stale-vote' | 'early-read-index';

export const BUG_NAMES: readonly BugName[] = [
  'old-term-commit',
  'no-vote-fsync',
  'stale-vote',
  'early-read-index',
];

export interface RaftConfig {
  readonly id: NodeId;
  /** The log as persisted (MemoryLogStore or FileLogStore). The core reads it, never writes. */
  readonly storage: LogReader;
  /** Followers campaign after a random timeout in [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Uniform in [0, 1); seeded in the simulator. */
  readonly random: () => number;
  readonly preVote: boolean;
  /** The leader steps down when it has not heard from a quorum for an election timeout. */
  readonly checkQuorum: boolean;
  /** Bound on AppendEntries messages in flight to one follower. */
  readonly maxInflightAppends: number;
  /** Bound on the bytes of entries in one AppendEntries message (at least one entry is sent). */
  readonly maxAppendBytes: number;
  /** Bound on proposals appended but not yet committed; past it proposals are `overloaded`. */
  readonly maxUncommittedEntries: number;
  /** Bound on committed entries handed out in one Ready. */
  readonly maxApplyEntries: number;
  /** Size of one InstallSnapshot chunk. */
  readonly snapshotChunkBytes: number;
  /** Last index the state machine has applied (snapshot index for an in-memory state machine). */
  readonly applied: Index;
  readonly bugs: ReadonlySet<BugName>;
}

export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'id' | 'storage' | 'random'> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxInflightAppends: 64,
  maxAppendBytes: 1024 * 1024,
  maxUncommittedEntries: 4096,
  maxApplyEntries: 1024,
  snapshotChunkBytes: 256 * 1024,
  applied: 0,
  bugs: new Set<BugName>(),
};

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

/**
 * What the core reads of the persisted log (like etcd's Storage). Reads are synchronous: the
 * stores keep the entries since the last snapshot in memory and write through to disk.
 */
export interface LogReader {
  initialState(): { hardState: HardState; conf: ConfState };
  /** Index of the first entry in the log (snapshot index + 1). */
  firstIndex(): Index;
  lastIndex(): Index;
  /** Term at `index` for snapshot index <= index <= lastIndex; null outside that range. */
  term(index: Index): Term | null;
  /** Entries [lo, hi) with firstIndex <= lo < hi <= lastIndex + 1; at least one, then up to maxBytes. */
  entries(lo: Index, hi: Index, maxBytes: number): Entry[];
  snapshot(): Snapshot;
}

export interface LogUpdate {
  readonly hardState: HardState | null;
  /** Appended after dropping any stored entries at or above entries[0].index. */
  readonly entries: readonly Entry[];
  /** Replaces the log and snapshot when newer than the stored snapshot. */
  readonly snapshot: Snapshot | null;
}

/** A durable log (raft/file-log-store.ts) or an in-memory one (raft/memory-log-store.ts). */
export interface LogStore extends LogReader {
  /**
   * Persists snapshot, then entries, then hard state, and resolves once they are durable.
   * `syncHardState: false` skips the fsync of the hard state (only for the no-vote-fsync bug).
   */
  save(update: LogUpdate, options?: { syncHardState?: boolean }): Promise<void>;
  /**
   * Installs a snapshot the state machine made at `snapshot.meta.index` (<= commit) and drops
   * the log up to it, keeping the entries after it.
   */
  compact(snapshot: Snapshot): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file interface the durable log store works through: a structural subset of
 * src/storage/vfs.ts (`Vfs`, `VfsFile`), so NodeVfs and the simulator's MemoryVfs serve it
 * without adapters. Paths are '/'-separated and relative to the vfs root.
 */
export interface RaftFile {
  readonly path: string;
  size(): number;
  append(data: Uint8Array): Promise<void>;
  read(position: number, length: number): Promise<Uint8Array>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export type RaftFileOpenMode = 'read' | 'append' | 'create';

export interface RaftFs {
  open(path: string, mode: RaftFileOpenMode): Promise<RaftFile>;
  readFile(path: string): Promise<Uint8Array>;
  exists(path: string): Promise<boolean>;
  list(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  syncDir(dir: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Runtime (host loop) interfaces
// ---------------------------------------------------------------------------------------------

/** A structural subset of src/env/env.ts `Env`: the simulator's virtual timers or real ones. */
export interface RaftTimers {
  setTimer(delayMs: number, fn: () => void): { cancel(): void };
}

/**
 * How the runtime sends messages: fire and forget (Raft tolerates loss, delay, duplication and
 * reordering). Incoming messages are handed to `RaftRuntime.receive(message)`.
 */
export interface RaftTransport {
  send(message: Message): void;
}

/** The replicated state machine the runtime applies committed entries to. */
export interface StateMachine {
  /** Applies one committed normal entry (never the empty no-op); the result resolves propose(). */
  apply(entry: Entry): unknown;
  /** Applies a committed membership change after Raft has applied it to its configuration. */
  applyConfChange?(change: ConfChange, entry: Entry, conf: ConfState): void;
  /** The serialized state as of the last applied entry. */
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's. */
  restore(snapshot: Snapshot): void;
}

export interface RaftRuntimeOptions {
  /** Core configuration; `storage` and `applied` come from `store` and the snapshot. */
  readonly config: Omit<RaftConfig, 'storage' | 'applied'>;
  /** An opened store (FileLogStore.open(fs, dir) or new MemoryLogStore()). */
  readonly store: LogStore;
  readonly timers: RaftTimers;
  readonly transport: RaftTransport;
  readonly stateMachine: StateMachine;
  /** Milliseconds per tick; election timeout = electionTicks * tickMs. */
  readonly tickMs: number;
  /** Take a state machine snapshot and compact the log every this many applied entries; 0 = never. */
  readonly snapshotEvery: number;
  /** Entries kept behind a snapshot so slightly lagging followers get the log, not a snapshot. */
  readonly keepEntries: number;
  /** Bound on pending propose()/read() promises; past it they reject with `overloaded`. */
  readonly maxPending: number;
  /**
   * Called once when the runtime stops on its own: the store failed (e.g. the simulated disk
   * crashed) or the core broke an invariant (RaftInvariantViolation).
   */
  readonly onFatal?: (error: unknown) => void;
}

/** The host loop's public face (implemented by RaftRuntime in raft/runtime.ts). */
export interface RaftHost {
  readonly id: NodeId;
  /** Starts ticking. The store must hold a snapshot (bootstrapSnapshot) or a log to start from. */
  start(): void;
  /** Stops ticking and rejects pending requests with `stopped`; closes nothing it did not open. */
  stop(): void;
  /** Hands a message from the transport to the core. */
  receive(message: Message): void;
  /** Resolves with the state machine's apply() result once the entry is applied here. */
  propose(data: Uint8Array): Promise<unknown>;
  /** Resolves with the new membership once the change is applied here. */
  proposeConfChange(change: ConfChange): Promise<ConfState>;
  /** Resolves once reading the local state machine is linearizable (ReadIndex, then apply). */
  read(): Promise<void>;
  transferLeader(to: NodeId): RequestResult;
  status(): Status;
}

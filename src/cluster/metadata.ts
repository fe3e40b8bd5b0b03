import {
  DEFAULT_RAFT_CONFIG,
  FileLogStore,
  isRaftError,
  type Message,
  RaftRuntime,
  type Snapshot,
  type Status,
} from '../../raft/index.js';
import type { ClusterEnv } from '../env/cluster-env.js';
import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import { isRaftMessage } from '../net/raft-transport.js';
import { AdoptedStateFile } from './adopted-state.js';
import {
  type BootstrapOptions,
  type ClusterCommand,
  encodeCommand,
  initialClusterState,
} from './cluster-commands.js';
import {
  type ClusterState,
  decodeClusterState,
  EMPTY_CLUSTER_STATE,
  encodeClusterState,
} from './cluster-state.js';
import { type ApplyOutcome, ClusterStateMachine } from './cluster-state-machine.js';
import { nextConfChange } from './raft-membership.js';
import { Ring } from './ring.js';

/** What the data plane and gossip read of the metadata. */
export interface MetadataView {
  /** The applied, committed state (its epoch never goes back). */
  state(): ClusterState;
  ring(): Ring;
  epoch(): number;
  onChange(listener: (state: ClusterState) => void): void;
  /** Waits until the local state is at least `epoch`, fetching it from `hintPeer` or the Raft group. */
  catchUp(epoch: number, hintPeer?: string): Promise<void>;
}

export const RAFT_CHANNEL = 'raft';
const MAX_EPOCH_WAITERS = 1024;
/** A meta.epoch probe answers within about this long (the prober asks again if still behind). */
const EPOCH_PROBE_CATCH_UP_MS = 300;
/** Request: {} -> encoded ClusterState bytes (the sender's view). */
export const META_STATE = 'meta.state';
/** Request: { epoch } -> { epoch }: the receiver's epoch, after trying to catch up to `epoch`. */
export const META_EPOCH = 'meta.epoch';

export interface MetadataOptions {
  /** Folder of the Raft log on env.vfs. */
  readonly dir: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** Snapshot the state (and compact the log) every this many applied entries. */
  readonly snapshotEvery: number;
  readonly requestTimeoutMs: number;
  /** How long catchUp keeps trying before it gives up with stale_epoch. */
  readonly catchUpTimeoutMs: number;
  /** How often the leader reconciles the Raft membership with the cluster's members. */
  readonly reconcileEveryMs: number;
  readonly maxListeners: number;
  /**
   * Planted bug 'forget-adopted' (tests only): adopted states are neither made durable nor
   * restored at open, so a restarted node's epoch can go back.
   */
  readonly bugForgetAdopted?: boolean;
}

export const DEFAULT_METADATA_OPTIONS: MetadataOptions = {
  dir: 'meta',
  tickMs: 100,
  electionTicks: 10,
  snapshotEvery: 256,
  requestTimeoutMs: 2000,
  catchUpTimeoutMs: 10_000,
  reconcileEveryMs: 300,
  maxListeners: 64,
};

export interface RaftSummary {
  readonly role: Status['role'];
  readonly leader: string | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

/**
 * The metadata of one node: a member of the metadata Raft group (voter or learner) whose state
 * machine is ClusterState, and the MetadataView the rest of the node reads. The view is the
 * newest committed state this node knows: what its Raft replica applied, or a newer committed
 * state fetched from a peer (catchUp), whichever has the higher epoch, so it never goes back,
 * also across restarts: the view takes a state only once it is durable (adopted-state.ts), and
 * open() starts from the newer of that file and the Raft snapshot.
 * On the leader it also keeps the Raft membership in line with the members (raft-membership.ts).
 */
export class ClusterMetadata implements MetadataView {
  private readonly env: ClusterEnv;
  private readonly opts: MetadataOptions;
  private readonly runtime: RaftRuntime;
  private readonly store: FileLogStore;
  private readonly machine: ClusterStateMachine;
  private view: ClusterState = EMPTY_CLUSTER_STATE;
  private ringCache: Ring | null = null;
  private readonly listeners: ((state: ClusterState) => void)[] = [];
  private readonly waiters = new Set<{ epoch: number; resolve: () => void }>();
  private reconcileTimer: { cancel(): void } | null = null;
  private confChangeInFlight = false;
  private started = false;
  private stopped = false;
  private fatalError: unknown = null;
  private readonly peersAdded = new Map<string, string>();
  private pendingCatchUp: { epoch: number; promise: Promise<void> } | null = null;
  private readonly adoptedFile: AdoptedStateFile;
  /** The newest adopted state not yet durable (the view takes it once it is). */
  private pendingAdopt: ClusterState | null = null;
  private persisting = false;
  /** False while the constructor restores the local snapshot (already durable). */
  private opened = false;

  /** True when the disk held a group at open (a restart): no join needed. */
  readonly hadLog: boolean;

  private constructor(env: ClusterEnv, store: FileLogStore, opts: MetadataOptions) {
    this.hadLog = store.lastIndex() > 0 || store.snapshot().meta.index > 0;
    this.env = env;
    this.opts = opts;
    this.store = store;
    this.adoptedFile = new AdoptedStateFile(env.vfs, opts.dir);
    this.machine = new ClusterStateMachine((s) => this.adopt(s));
    this.runtime = new RaftRuntime({
      config: {
        ...DEFAULT_RAFT_CONFIG,
        id: env.nodeId,
        electionTicks: opts.electionTicks,
        random: () => env.random(),
      },
      store,
      timers: env,
      transport: { send: (m: Message) => void env.net.send(m.to, RAFT_CHANNEL, m) },
      stateMachine: this.machine,
      tickMs: opts.tickMs,
      snapshotEvery: opts.snapshotEvery,
      keepEntries: Math.max(8, opts.snapshotEvery >> 2),
      maxPending: 256,
      onFatal: (e) => {
        this.fatalError = e;
      },
    });
  }

  /**
   * Founds a new cluster on this node's disk: the bootstrap snapshot with the founding nodes
   * (the first `voters` of them voters, the rest learners). False when the disk already holds a
   * group (a restart), which is left as it is.
   */
  static async bootstrap(
    env: ClusterEnv,
    founding: BootstrapOptions,
    dir = DEFAULT_METADATA_OPTIONS.dir,
  ): Promise<boolean> {
    const store = await FileLogStore.open(env.vfs, dir);
    try {
      if (store.lastIndex() > 0 || store.snapshot().meta.index > 0) return false;
      const state = initialClusterState(founding);
      const ids = Object.keys(state.nodes).sort();
      const voters = ids.slice(0, state.voterTarget);
      const snapshot: Snapshot = {
        meta: { index: 1, term: 1, conf: { voters, learners: ids.slice(state.voterTarget) } },
        data: encodeClusterState(state),
      };
      await store.save({ hardState: null, entries: [], snapshot });
      return true;
    } finally {
      await store.close();
    }
  }

  /** Opens the Raft log on env.vfs (empty for a joining node) and restores the state from it. */
  static async open(
    env: ClusterEnv,
    options: Partial<MetadataOptions> = {},
  ): Promise<ClusterMetadata> {
    const opts = { ...DEFAULT_METADATA_OPTIONS, ...options };
    const store = await FileLogStore.open(env.vfs, opts.dir);
    const metadata = new ClusterMetadata(env, store, opts);
    try {
      // The log replays from its snapshot; a newer state adopted before the restart (fetched
      // from a peer, or applied at a commit index the log did not keep) is in the file.
      const saved = opts.bugForgetAdopted ? null : await metadata.adoptedFile.load();
      if (saved !== null) metadata.install(saved);
    } catch (e) {
      await store.close().catch(() => {});
      throw e;
    }
    metadata.opened = true;
    return metadata;
  }

  /** Joins the network (the 'raft' and 'meta.state'/'meta.epoch' channels) and starts Raft. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const net = this.env.net;
    net.on(RAFT_CHANNEL, (from, payload) => {
      if (isRaftMessage(payload) && payload.from === from && payload.to === this.env.nodeId) {
        this.runtime.receive(payload);
      }
    });
    net.on(META_STATE, () => encodeClusterState(this.view));
    net.on(META_EPOCH, async (from, payload) => {
      const want = (payload as { epoch?: unknown } | null)?.epoch;
      if (typeof want === 'number' && want > this.view.epoch) {
        // Behind the asker: try briefly to catch up, then answer with what we have.
        await this.catchUpWithin(want, from, EPOCH_PROBE_CATCH_UP_MS).catch(() => {});
      }
      return { epoch: this.view.epoch };
    });
    this.connectPeers(this.view);
    this.runtime.start();
    this.scheduleReconcile();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.reconcileTimer?.cancel();
    this.runtime.stop();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
    // The runtime ignores a save that fails after stop(); the file is ours to close.
    await this.store.close().catch(() => {});
  }

  // ---- MetadataView -------------------------------------------------------------------------

  state(): ClusterState {
    return this.view;
  }

  ring(): Ring {
    if (this.ringCache === null) this.ringCache = Ring.from(this.view);
    return this.ringCache;
  }

  epoch(): number {
    return this.view.epoch;
  }

  onChange(listener: (state: ClusterState) => void): void {
    assert(this.listeners.length < this.opts.maxListeners, 'too many metadata listeners');
    this.listeners.push(listener);
  }

  catchUp(epoch: number, hintPeer?: string): Promise<void> {
    if (this.view.epoch >= epoch) return Promise.resolve();
    // Many requests answered stale_epoch at once share one catch-up toward the highest epoch.
    const pending = this.pendingCatchUp;
    if (pending !== null && pending.epoch >= epoch) return pending.promise;
    const target = Math.max(epoch, pending?.epoch ?? 0);
    const entry = {
      epoch: target,
      promise: this.catchUpWithin(target, hintPeer, this.opts.catchUpTimeoutMs).finally(() => {
        if (this.pendingCatchUp === entry) this.pendingCatchUp = null;
      }),
    };
    this.pendingCatchUp = entry;
    return entry.promise;
  }

  // ---- Raft ---------------------------------------------------------------------------------

  isLeader(): boolean {
    return this.runtime.status().role === 'leader';
  }

  leader(): string | null {
    return this.runtime.status().leader;
  }

  raftStatus(): RaftSummary {
    const s = this.runtime.status();
    return {
      role: s.role,
      leader: s.leader,
      term: s.term,
      commit: s.commit,
      applied: s.applied,
      voters: s.conf.voters,
      learners: s.conf.learners,
    };
  }

  /** The runtime's failure (disk error, broken invariant) if it stopped on its own. */
  fatal(): unknown {
    return this.fatalError;
  }

  /**
   * Proposes a command on this node (the leader) and resolves with the committed state; a
   * refused command rejects with its CountError (conflict, not_found, ...), a node that is not
   * the leader with `consistency_unavailable` naming the leader in details.
   */
  async propose(cmd: ClusterCommand): Promise<ClusterState> {
    let outcome: ApplyOutcome;
    try {
      outcome = (await this.runtime.propose(encodeCommand(cmd))) as ApplyOutcome;
    } catch (e) {
      throw countErrorOfRaft(e);
    }
    if (!outcome.ok) throw new CountError(outcome.code, outcome.message);
    // The proposer applied it; the view takes it once it is durable on this node.
    if (!(await this.waitForEpoch(outcome.epoch, this.opts.requestTimeoutMs))) {
      throw new CountError(
        'consistency_unavailable',
        `epoch ${outcome.epoch} committed but not yet durable on ${this.env.nodeId}`,
        { details: { epoch: outcome.epoch } },
      );
    }
    return this.view;
  }

  /** Hands Raft leadership to `to` (a voter); resolves when the request was accepted. */
  transferLeader(to: string): void {
    const r = this.runtime.transferLeader(to);
    if (!r.ok) throw countErrorOfRaft(r);
  }

  /**
   * Takes a committed state fetched from a peer if it is newer than the view (the view shows
   * it once it is durable: waitForEpoch/catchUp wait for that).
   */
  adoptFetched(data: Uint8Array): boolean {
    const s = decodeClusterState(data);
    return this.adopt(s);
  }

  // -------------------------------------------------------------------------------------------

  /** A newer committed state (applied by Raft or fetched): durable first, then the view's. */
  private adopt(s: ClusterState): boolean {
    if (s.epoch <= (this.pendingAdopt ?? this.view).epoch) return false;
    if (!this.opened || this.opts.bugForgetAdopted) {
      this.install(s);
      return true;
    }
    this.pendingAdopt = s;
    if (!this.persisting) void this.persistPending();
    return true;
  }

  /** Saves the pending state, newest first wins, and installs each one saved. */
  private async persistPending(): Promise<void> {
    this.persisting = true;
    try {
      while (this.pendingAdopt !== null && !this.stopped) {
        const s = this.pendingAdopt;
        try {
          await this.adoptedFile.save(s);
        } catch {
          // The view stays at what is durable; try again shortly (until stopped).
          if (!this.stopped) {
            this.env.setTimer(this.opts.tickMs, () => {
              if (!this.persisting) void this.persistPending();
            });
          }
          return;
        }
        if (this.pendingAdopt === s) this.pendingAdopt = null;
        if (!this.stopped) this.install(s);
      }
    } finally {
      this.persisting = false;
    }
  }

  private install(s: ClusterState): void {
    if (s.epoch <= this.view.epoch) return;
    this.view = s;
    this.ringCache = null;
    this.connectPeers(s);
    for (const w of this.waiters) {
      if (s.epoch >= w.epoch) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
    for (const l of this.listeners) {
      try {
        l(s);
      } catch {
        // A listener's failure must not stop the state machine from applying.
      }
    }
  }

  /** Keeps the network's address book equal to the members (self excluded). */
  private connectPeers(s: ClusterState): void {
    if (!this.started) return;
    for (const n of Object.values(s.nodes)) {
      if (n.id === this.env.nodeId) continue;
      if (n.state === 'left') {
        if (this.peersAdded.delete(n.id)) this.env.net.removePeer(n.id);
      } else if (this.peersAdded.get(n.id) !== n.peerAddress) {
        this.peersAdded.set(n.id, n.peerAddress);
        this.env.net.addPeer(n.id, n.peerAddress);
      }
    }
  }

  private waitForEpoch(epoch: number, ms: number): Promise<boolean> {
    if (this.view.epoch >= epoch) return Promise.resolve(true);
    // Bounded: past the limit a waiter just sleeps for `ms` (the caller re-checks the epoch).
    if (this.waiters.size >= MAX_EPOCH_WAITERS) {
      return new Promise((resolve) =>
        this.env.setTimer(ms, () => resolve(this.view.epoch >= epoch)),
      );
    }
    return new Promise((resolve) => {
      const w = {
        epoch,
        resolve: () => {
          timer.cancel();
          resolve(this.view.epoch >= epoch);
        },
      };
      const timer = this.env.setTimer(ms, () => {
        this.waiters.delete(w);
        resolve(this.view.epoch >= epoch);
      });
      this.waiters.add(w);
    });
  }

  private async catchUpWithin(
    epoch: number,
    hintPeer: string | undefined,
    budgetMs: number,
  ): Promise<void> {
    const deadline = this.env.monotonic() + budgetMs;
    // Ask the hinted peer first, then the Raft leader, then any other member.
    let round = 0;
    while (this.view.epoch < epoch && !this.stopped) {
      const left = deadline - this.env.monotonic();
      if (left <= 0) break;
      const sources = this.fetchSources(hintPeer);
      const peer = sources.length > 0 ? sources[round % sources.length] : null;
      round++;
      if (peer !== null) {
        try {
          const data = await this.env.net.request(
            peer,
            META_STATE,
            {},
            Math.min(this.opts.requestTimeoutMs, left),
          );
          if (data instanceof Uint8Array) this.adoptFetched(data);
        } catch {
          // Try the next source.
        }
      }
      if (this.view.epoch >= epoch) break;
      // Raft may deliver it meanwhile; wait a little before asking again (bounded by the budget).
      await this.waitForEpoch(
        epoch,
        Math.min(Math.max(1, deadline - this.env.monotonic()), 50 * round),
      );
    }
    if (this.view.epoch < epoch) {
      throw new CountError(
        'stale_epoch',
        `node ${this.env.nodeId} could not catch up to epoch ${epoch} (at ${this.view.epoch})`,
        { details: { epoch: this.view.epoch, wanted: epoch } },
      );
    }
  }

  private fetchSources(hintPeer: string | undefined): string[] {
    const out: string[] = [];
    const self = this.env.nodeId;
    if (hintPeer !== undefined && hintPeer !== self) out.push(hintPeer);
    const leader = this.leader();
    if (leader !== null && leader !== self && !out.includes(leader)) out.push(leader);
    for (const n of Object.values(this.view.nodes)) {
      if (n.id !== self && n.state !== 'left' && !out.includes(n.id)) out.push(n.id);
    }
    return out;
  }

  private scheduleReconcile(): void {
    if (this.stopped) return;
    this.reconcileTimer = this.env.setTimer(this.opts.reconcileEveryMs, () => {
      this.reconcile();
      this.scheduleReconcile();
    });
  }

  /** Leader only: the next Raft membership change that makes the group follow the members. */
  private reconcile(): void {
    if (this.confChangeInFlight || this.stopped || !this.isLeader()) return;
    if (this.view.epoch === 0) return;
    const change = nextConfChange(this.view, this.runtime.status());
    if (change === null) return;
    this.confChangeInFlight = true;
    this.runtime
      .proposeConfChange(change)
      .catch(() => {
        // Refused (learner behind, another change pending, leadership lost): next round retries.
      })
      .finally(() => {
        this.confChangeInFlight = false;
      });
  }
}

/** A Raft refusal as the CountError a client sees. */
export function countErrorOfRaft(e: unknown): CountError {
  if (e instanceof CountError) return e;
  const r = e as { code?: unknown; leader?: unknown; message?: unknown };
  if (isRaftError(e) || (typeof r === 'object' && r !== null && typeof r.code === 'string')) {
    const code = String(r.code);
    const leader = typeof r.leader === 'string' ? r.leader : null;
    if (code === 'overloaded') return new CountError('overloaded', 'metadata group is overloaded');
    if (code === 'unknown_node' || code === 'invalid_conf_change') {
      return new CountError('invalid_parameter', `raft: ${code}`);
    }
    return new CountError(
      'consistency_unavailable',
      `metadata change not possible now (raft: ${code}${leader === null ? '' : `, leader ${leader}`})`,
      { details: { raft: code, leader } },
    );
  }
  return new CountError('internal', e instanceof Error ? e.message : String(e), { cause: e });
}

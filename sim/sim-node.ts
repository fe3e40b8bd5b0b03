import { RaftInvariantViolation } from '../raft/assert.js';
import { isRaftError } from '../raft/errors.js';
import { FileLogStore } from '../raft/file-log-store.js';
import { RaftRuntime } from '../raft/runtime.js';
import type {
  BugName,
  ConfChange,
  ConfState,
  LogUpdate,
  Message,
  RaftErrorCode,
  Snapshot,
  Status,
} from '../raft/types.js';
import { DEFAULT_RAFT_CONFIG } from '../raft/types.js';
import { MemoryVfs } from '../src/storage/memory-vfs.js';
import type { KvInput } from './checkers/linearizability.js';
import type { RaftInvariants } from './checkers/raft-invariants.js';
import type { CrashTrigger } from './fault-schedule.js';
import { encodeKvCommand, type KvResult, KvStateMachine } from './kv-state-machine.js';
import type { SimNetwork } from './network.js';
import { ObservedLogStore } from './observed-log-store.js';
import { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import { type ClockDrift, SimEnv } from './sim-env.js';
import type { Trace } from './trace.js';
import type { KvReply } from './workload.js';

/** What every simulated node of one run shares. */
export interface SimNodeContext {
  readonly seed: number;
  readonly scheduler: Scheduler;
  readonly network: SimNetwork<Message>;
  readonly trace: Trace;
  readonly invariants: RaftInvariants;
  readonly bugs: ReadonlySet<BugName>;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** Bound on entry bytes per AppendEntries; 1 sends one entry per message. */
  readonly maxAppendBytes: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Called when a node's Raft core trips its own invariant assertion. */
  readonly onAssertion: (node: string, error: Error) => void;
}

/** Where the Raft log lives on each node's disk. */
const RAFT_DIR = 'raft';

/**
 * Small log segments: the store rotates and drops compacted segments many times per run (code
 * that production's 16 MiB segments reach only after hours), and a restart reads only the log
 * since the last compaction instead of the node's whole history (most of a boot's cost).
 */
const LOG_OPTIONS = { segmentBytes: 16 * 1024 };

/** Failures a client may treat as "certainly not applied". */
const DEFINITE_FAILURES: ReadonlySet<RaftErrorCode> = new Set<RaftErrorCode>([
  'not_leader',
  'transferring',
  'overloaded',
  'conf_change_pending',
  'invalid_conf_change',
  'unknown_node',
  'learner_behind',
  'read_not_ready',
  // The runtime reports it only once another entry was applied at the proposal's index.
  'dropped',
]);

/**
 * One simulated node across its incarnations: a disk that outlives crashes, and per
 * incarnation a SimEnv, a log store opened from the disk, a KV state machine and the Raft
 * runtime (the same host loop production uses), wired to the simulated network.
 */
export class SimNode {
  state: 'up' | 'down' | 'removed' = 'down';
  incarnation = 0;
  private env: SimEnv | null = null;
  private store: ObservedLogStore | null = null;
  private runtime: RaftRuntime | null = null;
  private sm: KvStateMachine | null = null;
  /** A pending crash-on-send trap (survives restarts until it fires). */
  private trap: { on: CrashTrigger; fire: () => void } | null = null;
  /** The node's disk: it outlives crashes, minus what was not fsynced. */
  private readonly disk: MemoryVfs;

  constructor(
    readonly id: string,
    private readonly ctx: SimNodeContext,
    private readonly drift: ClockDrift,
  ) {
    const diskRandom = SimRandom.stream(ctx.seed, `disk/${id}`);
    this.disk = new MemoryVfs({ random: () => diskRandom.next() });
  }

  /** Writes the founding snapshot to a fresh disk, before the simulation starts. */
  async bootstrap(snapshot: Snapshot): Promise<void> {
    const store = await FileLogStore.open(this.disk, RAFT_DIR, LOG_OPTIONS);
    await store.save({ snapshot, entries: [], hardState: null });
    await store.close();
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Boots a new incarnation from the disk; it joins the network once its log is open. */
  start(): void {
    if (this.state === 'up') return;
    const ctx = this.ctx;
    const inc = ++this.incarnation;
    const env = new SimEnv(
      this.id,
      ctx.scheduler,
      this.drift,
      SimRandom.stream(ctx.seed, `raft/${this.id}/${inc}`),
      this.disk,
      ctx.trace,
    );
    this.env = env;
    this.state = 'up';
    ctx.trace.record(ctx.scheduler.now, 'start', `${this.id} #${inc}`);
    FileLogStore.open(env.vfs, RAFT_DIR, LOG_OPTIONS).then(
      (file) => {
        if (!env.isAlive) return;
        const observed = new ObservedLogStore(
          file,
          (u, log) => {
            if (u.entries.length === 0) return;
            const commit = log.initialState().hardState.commit;
            ctx.invariants.onPersist(this.id, u.entries, commit, (i) => log.term(i));
          },
          (u) => this.onSaved(u),
        );
        this.boot(env, observed);
      },
      (error: unknown) => {
        // A crash during boot fences the disk; anything else is a recovery failure.
        if (env.isAlive) ctx.onAssertion(this.id, error as Error);
      },
    );
  }

  private boot(env: SimEnv, store: ObservedLogStore): void {
    const ctx = this.ctx;
    const sm = new KvStateMachine((entry) => ctx.invariants.onApply(this.id, entry));
    ctx.invariants.onRestart(this.id, store.snapshot().meta.index);
    const runtime = new RaftRuntime({
      config: {
        ...DEFAULT_RAFT_CONFIG,
        id: this.id,
        electionTicks: ctx.electionTicks,
        heartbeatTicks: 1,
        random: () => env.random(),
        bugs: ctx.bugs,
        maxUncommittedEntries: 256,
        maxAppendBytes: ctx.maxAppendBytes,
        preVote: ctx.preVote,
        checkQuorum: ctx.checkQuorum,
      },
      store,
      timers: env,
      transport: {
        send: (m) => {
          // A node that lost power mid-Ready sends nothing more.
          if (!env.isAlive) return;
          ctx.invariants.onSend(m);
          ctx.network.send(m);
          const trap = this.trap;
          if (trap !== null && m.type === trap.on && triggers(m)) {
            this.trap = null;
            trap.fire();
          }
        },
      },
      stateMachine: {
        apply: (e) => sm.apply(e),
        applyConfChange: (c, e) => sm.applyConfChange(c, e),
        snapshot: () => sm.snapshot(),
        restore: (s) => {
          sm.restore(s);
          ctx.invariants.onRestart(this.id, s.meta.index);
        },
      },
      tickMs: ctx.tickMs,
      snapshotEvery: 64,
      keepEntries: 16,
      maxPending: 256,
      onFatal: (error) => {
        if (error instanceof RaftInvariantViolation) ctx.onAssertion(this.id, error);
        else if (env.isAlive) ctx.onAssertion(this.id, error as Error);
      },
    });
    this.store = store;
    this.sm = sm;
    this.runtime = runtime;
    ctx.network.attach(this.id, (m) => runtime.receive(m));
    runtime.start();
  }

  /** Power cut: the process dies and what was not durable is lost. */
  crash(tear: boolean): void {
    if (this.state !== 'up') return;
    this.ctx.trace.record(this.ctx.scheduler.now, 'crash', `${this.id}${tear ? ' torn' : ''}`);
    this.kill();
    this.disk.crash({ tear });
    this.state = 'down';
  }

  /**
   * Removed from the group: stop it, keeping its disk. A re-add boots from that disk. (Wiping
   * it would be unsafe with the same node id: an empty node may vote in an old configuration
   * that still counts it, and elect a leader that lacks committed entries. etcd forbids reusing
   * a removed member's id for that reason.)
   */
  retire(): void {
    this.ctx.trace.record(this.ctx.scheduler.now, 'retire', this.id);
    this.kill();
    this.state = 'removed';
  }

  private kill(): void {
    this.ctx.network.detach(this.id);
    this.env?.kill();
    // Pending requests learn the node died: their outcome is unknown to the client.
    this.runtime?.stop();
    this.env = null;
    this.store = null;
    this.runtime = null;
    this.sm = null;
  }

  /** The next time this node sends `on` (a granted vote, for voteResp), `fire` runs. */
  armCrashTrap(on: CrashTrigger, fire: () => void): void {
    this.trap = { on, fire };
  }

  status(): Status | null {
    return this.runtime?.status() ?? null;
  }

  /** The open log store (for the final checks), when the node is up. */
  log(): ObservedLogStore | null {
    return this.store;
  }

  /** Serves one client request, as the node's API would. */
  async submit(input: KvInput): Promise<KvReply> {
    const runtime = this.runtime;
    const sm = this.sm;
    if (runtime === null || sm === null) return { status: 'fail', reason: 'down', leader: null };
    try {
      if (input.f === 'get') {
        const st = runtime.status();
        const commitTerm = this.store?.term(st.commit) ?? null;
        await runtime.read();
        // read() resolves only on a leader; check the rule it was accepted under.
        if (st.role === 'leader') this.ctx.invariants.onReadServed(this.id, st.term, commitTerm);
        return { status: 'ok', output: { value: sm.get(input.key) } };
      }
      const result = (await runtime.propose(encodeKvCommand(input))) as KvResult;
      return { status: 'ok', output: result.f === 'cas' ? { swapped: result.swapped } : null };
    } catch (e) {
      if (isRaftError(e) && DEFINITE_FAILURES.has(e.code)) {
        return { status: 'fail', reason: e.code, leader: e.leader };
      }
      throw e;
    }
  }

  async changeMembership(change: ConfChange): Promise<ConfState> {
    const runtime = this.runtime;
    if (runtime === null) throw new Error(`${this.id} is down`);
    return runtime.proposeConfChange(change);
  }

  transferLeader(to: string): void {
    this.runtime?.transferLeader(to);
  }

  private onSaved(update: LogUpdate): void {
    const inv = this.ctx.invariants;
    const runtime = this.runtime;
    const store = this.store;
    if (runtime === null || store === null) return;
    const st = runtime.status();
    if (st.role !== 'leader') return;
    const entries = update.entries;
    if (entries.length > 0 && entries[entries.length - 1].term === st.term) {
      inv.onLeaderAppend(this.id, store, st.applied);
    }
    if (update.hardState !== null && update.hardState.term === st.term) {
      const commit = update.hardState.commit;
      inv.onLeaderCommit(this.id, update.hardState.term, commit, store.term(commit));
    }
  }
}

/** Only a real granted vote, or an append that carries entries, springs a trap. */
function triggers(m: Message): boolean {
  if (m.type === 'voteResp') return m.granted && !m.pre;
  if (m.type === 'append') return m.entries.length > 0;
  return true;
}

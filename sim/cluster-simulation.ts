import type { OperationBug } from '../src/cluster/operations.js';
import type { DataPlaneBug } from '../src/distributed/coordinator.js';
import { EpochMonotonic } from './checkers/epoch-monotonic.js';
import { SingleOwnership } from './checkers/single-ownership.js';
import { type ClusterNodeContext, ClusterSimNode } from './cluster-sim-node.js';
import { ClusterWorkload } from './cluster-workload.js';
import { type FaultEvent, type FaultSchedule, LEADER } from './fault-schedule.js';
import { SimNetwork } from './network.js';
import type { PlantedViewBug } from './planted-view.js';
import { SimRandom } from './random.js';
import {
  applyNetworkFault,
  nodeDrift,
  type RunFigures,
  recoverNetwork,
  runFigures,
  scheduleFaults,
} from './run-frame.js';
import { Scheduler } from './scheduler.js';
import { describePeerPacket, type PeerPacket, SimPeerHub } from './sim-peer-network.js';
import type { Knobs, SimulationFailure } from './simulation.js';
import { knobsFor } from './simulation.js';
import { Trace } from './trace.js';

/**
 * One run of the cluster simulation: founding nodes running the real metadata (Raft), gossip,
 * operation driver and coordinator with its storage engine, over the simulated PeerNetwork,
 * under the same fault schedules as the Raft simulation. A spare node joins a quarter of the
 * way in and the schedule's `remove` events decommission a node, so staged operations run
 * under faults. Clients write, read and query; the checkers (quorum-durability, query-honesty,
 * epoch-monotonic, single-ownership) watch. Everything is a function of the seed.
 */
export const CLUSTER_BUGS = [
  'ack-before-quorum',
  'partial-lies',
  'epoch-regress',
  'early-owner',
  'finish-without-stream',
  'forget-adopted',
] as const;
export type ClusterBug = (typeof CLUSTER_BUGS)[number];

export const CLUSTER_CHECKERS = [
  'quorum-durability',
  'query-honesty',
  'epoch-monotonic',
  'single-ownership',
] as const;
export type ClusterChecker = (typeof CLUSTER_CHECKERS)[number];

export interface ClusterSimulationOptions {
  readonly seed: number;
  /** Founding members (a spare joins on top). */
  readonly nodes: number;
  readonly rf: number;
  readonly bugs: readonly ClusterBug[];
  readonly faultMs: number;
  readonly recoverMs: number;
  readonly keepTrace: boolean;
  readonly knobs?: Partial<Knobs>;
  readonly schedule?: FaultSchedule;
  /** Checkers that may fail the run (all by default); tests enable one to show it alone catches a bug. */
  readonly checkers?: readonly ClusterChecker[];
}

export const DEFAULT_CLUSTER_SIMULATION: Omit<ClusterSimulationOptions, 'seed'> = {
  nodes: 4,
  rf: 3,
  bugs: [],
  faultMs: 8_000,
  recoverMs: 3_000,
  keepTrace: false,
};

export interface ClusterSimulationResult extends RunFigures {
  readonly schedule: FaultSchedule;
  readonly knobs: Knobs;
  readonly failure: SimulationFailure | null;
  readonly stats: ClusterWorkload['stats'];
  readonly trace: string | undefined;
}

/**
 * Where each planted bug lives: the coordinator's and the operation driver's own planted-bug
 * options, the simulated metadata view (planted-view.ts), and the client side of a query
 * answer ('partial-lies' drops partial/missing, as a router that lied would).
 */
const DATA_BUGS: Partial<Record<ClusterBug, DataPlaneBug>> = {
  'ack-before-quorum': 'quorum-of-one',
};
const OPERATION_BUGS: Partial<Record<ClusterBug, OperationBug>> = {
  'finish-without-stream': 'finish-without-stream',
};
const VIEW_BUGS: Partial<Record<ClusterBug, PlantedViewBug>> = {
  'epoch-regress': 'epoch-regress',
  'early-owner': 'early-owner',
};
/** How often the monitor stops nodes that left and retries admin commands. */
const MONITOR_MS = 50;
const ADMIN_TIMEOUT_MS = 2000;
const ADMIN_MAX_ATTEMPTS = 40;
const ADMIN_RETRY_MS = 200;

export async function runClusterSimulation(
  options: ClusterSimulationOptions,
): Promise<ClusterSimulationResult> {
  const started = performance.now();
  const { seed } = options;
  const knobs = knobsFor(seed, options.knobs);
  const founding = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const spare = `n${options.nodes + 1}`;
  const ids = [...founding, spare];
  const scheduler = new Scheduler();
  const trace = new Trace(options.keepTrace);
  const network = new SimNetwork<PeerPacket>(
    scheduler,
    ids,
    SimRandom.stream(seed, 'network'),
    trace,
    describePeerPacket,
  );
  const hub = new SimPeerHub(network);
  let failure: SimulationFailure | null = null;
  const enabled = new Set<string>(options.checkers ?? CLUSTER_CHECKERS);
  const fail = (checker: string, explanation: string): void => {
    const isChecker = (CLUSTER_CHECKERS as readonly string[]).includes(checker);
    if (isChecker && !enabled.has(checker)) return;
    failure ??= { checker, explanation };
  };
  const epochs = new EpochMonotonic();
  const ownership = new SingleOwnership();
  const pick = <T>(map: Partial<Record<ClusterBug, T>>): T[] =>
    options.bugs.flatMap((b) => (map[b] === undefined ? [] : [map[b] as T]));
  const ctx: ClusterNodeContext = {
    seed,
    scheduler,
    hub,
    trace,
    dataBugs: pick(DATA_BUGS),
    operationBugs: new Set(pick(OPERATION_BUGS)),
    viewBugs: new Set(pick(VIEW_BUGS)),
    forgetAdopted: options.bugs.includes('forget-adopted'),
    tickMs: knobs.tickMs,
    electionTicks: Math.max(5, knobs.electionTicks),
    onFailure: (node, error) => fail('node-failure', `${node}: ${error.name}: ${error.message}`),
    onViewChange: (node, inc, state, view) => {
      trace.record(scheduler.now, 'epoch', `${node} ${state.epoch}`);
      const back = epochs.observe(node, inc, state.epoch, scheduler.now);
      if (back !== null) fail('epoch-monotonic', back);
      const two = ownership.observe(node, state, view.ring(), scheduler.now);
      if (two !== null) fail('single-ownership', two);
    },
  };
  const clocks = SimRandom.stream(seed, 'clocks');
  const nodes = new Map<string, ClusterSimNode>();
  for (const id of ids) {
    nodes.set(id, new ClusterSimNode(id, ctx, nodeDrift(clocks, knobs.maxDriftRate)));
  }
  for (const id of founding) await nodes.get(id)!.bootstrap(founding, options.rf);
  for (const id of founding) nodes.get(id)!.start();

  const admin = new ClusterAdmin(nodes, founding, spare, options.rf, scheduler, trace);
  const schedule = scheduleFaults(
    seed,
    options,
    founding,
    knobs.meanFaultGapMs,
    scheduler,
    (event) => applyFault(event, nodes, network, hub, admin, scheduler, trace),
  );
  scheduler.scheduleAt(300, () => admin.join());
  scheduler.scheduleAt(options.faultMs, () => {
    recoverNetwork(network, scheduler, trace);
    hub.onSend = null;
    for (const node of nodes.values())
      if (node.state === 'down' && !admin.gone(node.id)) node.start();
  });
  const monitor = (): void => {
    admin.tick();
    scheduler.schedule(MONITOR_MS, monitor);
  };
  scheduler.schedule(MONITOR_MS, monitor);

  const endMs = options.faultMs + options.recoverMs;
  const workload = new ClusterWorkload(
    {
      clients: 4,
      series: 8,
      stopAtMs: endMs - 2000,
      timeoutMs: 3000,
      thinkMs: [0, knobs.maxThinkMs],
    },
    scheduler,
    SimRandom.stream(seed, 'workload'),
    trace,
    {
      // Clients use nodes that are up and have joined (a joiner before its first state has none).
      upNodes: () =>
        [...nodes.values()]
          .filter((n) => n.up && !admin.gone(n.id) && (n.parts?.view.epoch() ?? 0) > 0)
          .map((n) => n.id),
      coordinator: (id) => nodes.get(id)?.parts?.coordinator ?? null,
      partialLies: options.bugs.includes('partial-lies'),
      violation: fail,
    },
  );
  workload.start();
  // After recovery, every acknowledged series is read once more at quorum.
  scheduler.scheduleAt(endMs - 1500, () => {
    const up = [...nodes.values()].find((n) => n.up && !admin.gone(n.id));
    if (up !== undefined) workload.finalReads(up.id);
  });

  await scheduler.run(endMs, () => failure !== null);
  for (const node of nodes.values()) node.stop();
  const result: SimulationFailure | null = failure;
  trace.record(
    scheduler.now,
    'end',
    result === null ? 'ok' : (result as SimulationFailure).checker,
  );
  return {
    ...runFigures(seed, scheduler, trace, started),
    schedule,
    knobs,
    failure: result,
    stats: { ...workload.stats },
    trace: trace.ndjson(),
  };
}

function applyFault(
  event: FaultEvent,
  nodes: ReadonlyMap<string, ClusterSimNode>,
  network: SimNetwork<PeerPacket>,
  hub: SimPeerHub,
  admin: ClusterAdmin,
  scheduler: Scheduler,
  trace: Trace,
): void {
  const bounce = (node: ClusterSimNode, tear: boolean, downMs: number): void => {
    node.crash(tear);
    scheduler.schedule(downMs, () => {
      if (node.state === 'down' && !admin.gone(node.id)) node.start();
    });
  };
  if (applyNetworkFault(event, network, scheduler, trace)) return;
  switch (event.kind) {
    case 'crash':
      nodes.get(event.node)!.crash(event.tear);
      return;
    case 'restart': {
      const node = nodes.get(event.node)!;
      if (node.state === 'down' && !admin.gone(node.id)) node.start();
      return;
    }
    case 'crash-leader': {
      const leader = admin.leader();
      trace.record(scheduler.now, 'crash-leader', leader?.id ?? '-');
      if (leader !== null) bounce(leader, event.tear, event.downMs);
      return;
    }
    case 'crash-on-send': {
      // The trap watches the node's Raft messages on the shared network.
      const node = event.node === LEADER ? admin.leader() : nodes.get(event.node)!;
      if (node === null) return;
      trace.record(scheduler.now, 'trap', `${node.id} on ${event.message}`);
      hub.onSend = (from, channel, payload) => {
        if (from !== node.id || channel !== 'raft' || !raftTrigger(payload, event.message)) return;
        hub.onSend = null;
        // The message is on its way; the power goes before anything else runs.
        scheduler.schedule(0, () => bounce(node, false, event.downMs));
      };
      return;
    }
    case 'vote-amnesia': {
      const until = scheduler.now + event.durationMs;
      trace.record(scheduler.now, 'amnesia', `until ${until}`);
      hub.onSend = (from, channel, payload) => {
        if (scheduler.now >= until) {
          hub.onSend = null;
          return;
        }
        if (channel !== 'raft' || !raftTrigger(payload, 'voteResp')) return;
        const node = nodes.get(from)!;
        scheduler.schedule(0, () => bounce(node, false, event.downMs));
      };
      const leader = admin.leader();
      if (leader !== null) bounce(leader, false, event.downMs);
      return;
    }
    case 'remove':
      admin.decommission(event.node);
      return;
    case 'add':
      admin.join();
      return;
    case 'transfer': {
      const leader = admin.leader();
      trace.record(scheduler.now, 'transfer', `${leader?.id ?? '-'} -> ${event.node}`);
      try {
        leader?.parts?.metadata.transferLeader(event.node);
      } catch {
        // Refused (not a voter, already transferring): the operator would just see an error.
      }
      return;
    }
  }
}

/** Only a granted vote, or an append that carries entries, springs a trap (as in sim-node). */
function raftTrigger(payload: unknown, on: string): boolean {
  const m = payload as { type?: string; granted?: boolean; pre?: boolean; entries?: unknown[] };
  if (m?.type !== on) return false;
  if (on === 'voteResp') return m.granted === true && m.pre !== true;
  if (on === 'append') return (m.entries?.length ?? 0) > 0;
  return true;
}

/**
 * The operator, as countctl would act: one staged operation at a time (a spare node joining, a
 * member decommissioned), asked through any live node's meta service with bounded retries.
 * Nodes whose own view says they left are stopped for good.
 */
class ClusterAdmin {
  private busy = false;
  private joined = false;
  private readonly left = new Set<string>();
  private lastProgress = '';

  constructor(
    private readonly nodes: ReadonlyMap<string, ClusterSimNode>,
    private readonly founding: readonly string[],
    private readonly spare: string,
    private readonly rf: number,
    private readonly scheduler: Scheduler,
    private readonly trace: Trace,
  ) {}

  gone(id: string): boolean {
    return this.left.has(id);
  }

  leader(): ClusterSimNode | null {
    let best: ClusterSimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const st = node.parts?.metadata.raftStatus();
      if (st !== undefined && st.role === 'leader' && st.term > bestTerm) {
        best = node;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** The spare node boots with an empty disk and asks a live founding member to join. */
  join(): void {
    if (this.joined) return;
    const via = this.founding.find((id) => this.nodes.get(id)!.up);
    if (via === undefined) return;
    this.joined = true;
    this.trace.record(this.scheduler.now, 'admin', `join ${this.spare} via ${via}`);
    this.nodes.get(this.spare)!.start(via);
  }

  decommission(id: string): void {
    if (this.busy || this.left.has(id)) return;
    const leader = this.leader()?.parts?.metadata.state();
    if (leader === undefined) return;
    const owners = Object.values(leader.nodes).filter((n) => n.state === 'normal').length;
    if (owners <= this.rf || leader.nodes[id]?.state !== 'normal') return;
    this.busy = true;
    this.trace.record(this.scheduler.now, 'admin', `decommission ${id}`);
    this.ask(id, 0);
  }

  private ask(id: string, attempt: number): void {
    const done = (what: string): void => {
      this.trace.record(this.scheduler.now, 'admin', `${what} decommission ${id}`);
      this.busy = false;
    };
    let settled = false;
    const retry = (): void => {
      if (settled) return;
      settled = true;
      if (attempt + 1 >= ADMIN_MAX_ATTEMPTS) done('gave up');
      else this.scheduler.schedule(ADMIN_RETRY_MS, () => this.ask(id, attempt + 1));
    };
    const via = [...this.nodes.values()].find((n) => n.up && !this.left.has(n.id));
    const parts = via?.parts ?? null;
    if (parts === null) {
      retry();
      return;
    }
    // Staged already (an earlier answer was lost, or it finished): nothing more to ask.
    const known = parts.view.state().nodes[id]?.state;
    if (known === 'leaving' || known === 'left') {
      done('staged');
      return;
    }
    this.scheduler.schedule(ADMIN_TIMEOUT_MS, retry);
    // Refusals (another operation in flight: 'conflict'; no leader) are retried, bounded.
    parts.service.operate('decommission', id).then(() => {
      if (settled) return;
      settled = true;
      done('staged');
    }, retry);
  }

  /** Stops nodes that their own view shows as left; traces the leader's operation progress. */
  tick(): void {
    const progress = this.leader()?.parts?.driver.progress() ?? null;
    const line =
      progress === null
        ? ''
        : `${progress.kind} ${progress.node} ${progress.phase} ${progress.streamsDone}/${progress.streamsTotal}${progress.error === null ? '' : ` ${progress.error}`}`;
    if (line !== this.lastProgress) {
      this.lastProgress = line;
      if (line !== '') this.trace.record(this.scheduler.now, 'op', line);
    }
    for (const node of this.nodes.values()) {
      const parts = node.parts;
      if (parts === null || this.left.has(node.id)) continue;
      if (parts.view.state().nodes[node.id]?.state === 'left') {
        this.left.add(node.id);
        this.trace.record(this.scheduler.now, 'admin', `${node.id} left; stopping it`);
        node.stop();
      }
    }
  }
}

import { bootstrapSnapshot } from '../raft/bootstrap.js';
import type { BugName, Message } from '../raft/types.js';
import {
  checkLinearizable,
  describeOp,
  type LinearizabilityResult,
} from './checkers/linearizability.js';
import { RaftInvariants } from './checkers/raft-invariants.js';
import { describeMessage, encodeMessage } from './describe-message.js';
import {
  type CrashTrigger,
  type FaultEvent,
  type FaultSchedule,
  LEADER,
} from './fault-schedule.js';
import { KvStateMachine } from './kv-state-machine.js';
import { SimNetwork } from './network.js';
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
import { SimNode, type SimNodeContext } from './sim-node.js';
import { Trace } from './trace.js';
import { Workload } from './workload.js';

/**
 * One simulation run: a Raft group of `nodes` nodes serving the KV workload while the fault
 * schedule partitions, crashes, restarts and reconfigures it, with the checkers watching.
 * Everything is a function of the seed (and of the schedule, when one is given for shrinking).
 */
export interface SimulationOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly bugs: readonly BugName[];
  /** Faults happen in [0, faultMs); then the network heals and every node restarts. */
  readonly faultMs: number;
  /** Quiet time after the faults, for the group to converge before the final checks. */
  readonly recoverMs: number;
  readonly keepTrace: boolean;
  /** False turns off the protocol-rule checks, leaving end-to-end safety checks only. */
  readonly ruleChecks?: boolean;
  /** Pins knobs that are otherwise drawn from the seed. */
  readonly knobs?: Partial<Knobs>;
  /** Replaces the schedule generated from the seed (used by shrinking). */
  readonly schedule?: FaultSchedule;
}

/**
 * Per-seed settings drawn from the seed ("swarm testing"): each seed runs a different mix, so
 * a sweep covers calm and hostile clusters, tight and loose timeouts, drifting and steady
 * clocks, instead of one average that hides the corners.
 */
export interface Knobs {
  /** Raft tick; heartbeats every tick. */
  readonly tickMs: number;
  /**
   * Election timeout in ticks (randomised in [e, 2e) by Raft). Small values make split votes
   * and contested terms common, which is where vote-durability bugs show.
   */
  readonly electionTicks: number;
  /** Each node's clock runs fast or slow by up to this fraction (0.02 = 2%). */
  readonly maxDriftRate: number;
  /** Mean pause between two faults. */
  readonly meanFaultGapMs: number;
  /** Upper bound of a client's pause between operations. */
  readonly maxThinkMs: number;
  /** Bytes of entries per AppendEntries; 1 means one entry per message (acks per entry). */
  readonly maxAppendBytes: number;
  /** Raft's pre-vote and check-quorum (both on in production; off makes elections rougher). */
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
}

export function knobsFor(seed: number, pinned: Partial<Knobs> = {}): Knobs {
  const r = SimRandom.stream(seed, 'knobs');
  const drawn: Knobs = {
    tickMs: 100,
    electionTicks: r.pick([3, 3, 4, 5, 10]),
    maxDriftRate: r.pick([0, 0, 0.001, 0.02]),
    meanFaultGapMs: r.int(300, 900),
    maxThinkMs: r.int(50, 300),
    maxAppendBytes: r.pick([1, 1024 * 1024]),
    preVote: r.chance(0.5),
    checkQuorum: r.chance(0.5),
  };
  return { ...drawn, ...pinned };
}

export const DEFAULT_SIMULATION: Omit<SimulationOptions, 'seed'> = {
  nodes: 5,
  bugs: [],
  faultMs: 8_000,
  recoverMs: 3_000,
  keepTrace: false,
};

export interface SimulationFailure {
  /** Which checker failed: an invariant name, "linearizability" or "raft-assertion". */
  readonly checker: string;
  readonly explanation: string;
}

export interface SimulationResult extends RunFigures {
  readonly schedule: FaultSchedule;
  readonly knobs: Knobs;
  readonly failure: SimulationFailure | null;
  readonly ops: { readonly ok: number; readonly fail: number; readonly info: number };
  readonly linearizability: LinearizabilityResult['verdict'];
  readonly trace: string | undefined;
}

/** Retry pause and bound for the membership admin's requests. */
const ADMIN_RETRY_MS = 100;
const ADMIN_MAX_ATTEMPTS = 60;
const ADMIN_TIMEOUT_MS = 1000;

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const started = performance.now();
  const { seed } = options;
  const knobs = knobsFor(seed, options.knobs);
  const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const scheduler = new Scheduler();
  const trace = new Trace(options.keepTrace);
  const invariants = new RaftInvariants(() => scheduler.now, options.ruleChecks !== false);
  let assertion: SimulationFailure | null = null;
  const network = new SimNetwork<Message>(
    scheduler,
    ids,
    SimRandom.stream(seed, 'network'),
    trace,
    describeMessage,
  );
  network.encodeWith(encodeMessage);
  const ctx: SimNodeContext = {
    seed,
    scheduler,
    network,
    trace,
    invariants,
    bugs: new Set(options.bugs),
    tickMs: knobs.tickMs,
    electionTicks: knobs.electionTicks,
    maxAppendBytes: knobs.maxAppendBytes,
    preVote: knobs.preVote,
    checkQuorum: knobs.checkQuorum,
    onAssertion: (node, error) => {
      assertion ??= {
        checker: 'raft-assertion',
        explanation: `${node}: ${error.name}: ${error.message}`,
      };
    },
  };
  const clocks = SimRandom.stream(seed, 'clocks');
  const founding = bootstrapSnapshot(ids, new KvStateMachine().snapshot());
  const nodes = new Map<string, SimNode>();
  for (const id of ids) {
    const node = new SimNode(id, ctx, nodeDrift(clocks, knobs.maxDriftRate));
    await node.bootstrap(founding);
    nodes.set(id, node);
  }
  for (const node of nodes.values()) node.start();

  const admin = new MembershipAdmin(nodes, scheduler, trace);
  const schedule = scheduleFaults(seed, options, ids, knobs.meanFaultGapMs, scheduler, (event) =>
    applyFault(event, nodes, network, admin, scheduler, trace),
  );
  scheduler.scheduleAt(options.faultMs, () => {
    recoverNetwork(network, scheduler, trace);
    for (const node of nodes.values()) if (node.state === 'down') node.start();
  });

  const endMs = options.faultMs + options.recoverMs;
  const workload = new Workload(
    {
      clients: options.nodes,
      keys: 3,
      nodes: ids,
      stopAtMs: endMs - 1500,
      timeoutMs: 500,
      thinkMs: [0, knobs.maxThinkMs],
      latencyMs: [1, 5],
    },
    scheduler,
    SimRandom.stream(seed, 'workload'),
    trace,
    {
      submit: (node, input) => nodes.get(node)!.submit(input),
    },
  );
  workload.start();

  const failed = (): boolean => assertion !== null || invariants.failed !== null;
  await scheduler.run(endMs, failed);

  if (!failed()) {
    const booted = [...nodes.values()].filter((n) => n.log() !== null);
    // Only the leader of the newest term must hold every committed entry; an older one is stale.
    const newest = Math.max(0, ...booted.map((n) => n.status()!.term));
    invariants.finalCheck(
      booted.map((n) => {
        const st = n.status()!;
        const leader = st.role === 'leader' && st.term === newest;
        return { id: n.id, log: n.log()!, commit: st.commit, leader };
      }),
    );
  }
  let failure: SimulationFailure | null = assertion;
  const violation = invariants.failed;
  if (failure === null && violation !== null) {
    failure = {
      checker: violation.invariant,
      explanation: `at ${violation.at}ms: ${violation.message}`,
    };
  }
  let verdict: LinearizabilityResult['verdict'] = 'unknown';
  if (failure === null) {
    const lin = checkLinearizable(workload.history);
    verdict = lin.verdict;
    if (lin.verdict === 'violation') {
      const ops = lin.ops
        .slice()
        .sort((a, b) => a.invoke - b.invoke)
        .slice(0, 40)
        .map((o) => `    #${o.id} c${o.client} ${describeOp(o)}`);
      failure = {
        checker: 'linearizability',
        explanation: `${lin.explanation}\n  operations on ${lin.key} (first 40 by invocation):\n${ops.join('\n')}`,
      };
    }
  }
  trace.record(scheduler.now, 'end', failure === null ? 'ok' : failure.checker);
  return {
    ...runFigures(seed, scheduler, trace, started),
    schedule,
    knobs,
    failure,
    ops: { ...workload.stats },
    linearizability: verdict,
    trace: trace.ndjson(),
  };
}

function applyFault(
  event: FaultEvent,
  nodes: ReadonlyMap<string, SimNode>,
  network: SimNetwork<Message>,
  admin: MembershipAdmin,
  scheduler: Scheduler,
  trace: Trace,
): void {
  if (applyNetworkFault(event, network, scheduler, trace)) return;
  switch (event.kind) {
    case 'crash':
      nodes.get(event.node)!.crash(event.tear);
      return;
    case 'restart': {
      const node = nodes.get(event.node)!;
      if (node.state === 'down') node.start();
      return;
    }
    case 'crash-leader': {
      const leader = admin.leader();
      trace.record(scheduler.now, 'crash-leader', leader?.id ?? '-');
      if (leader === null) return;
      leader.crash(event.tear);
      scheduler.schedule(event.downMs, () => {
        if (leader.state === 'down') leader.start();
      });
      return;
    }
    case 'crash-on-send': {
      const node = event.node === LEADER ? admin.leader() : nodes.get(event.node)!;
      if (node !== null) armCrash(node, event.message, event.downMs, scheduler, trace);
      return;
    }
    case 'vote-amnesia': {
      const until = scheduler.now + event.durationMs;
      trace.record(scheduler.now, 'amnesia', `until ${until}`);
      const arm = (node: SimNode): void => {
        node.armCrashTrap('voteResp', () => {
          node.crash(false);
          scheduler.schedule(event.downMs, () => {
            if (node.state === 'down') node.start();
          });
          if (scheduler.now < until) arm(node);
        });
      };
      for (const node of nodes.values()) arm(node);
      const leader = admin.leader();
      if (leader !== null) {
        leader.crash(false);
        scheduler.schedule(event.downMs, () => {
          if (leader.state === 'down') leader.start();
        });
      }
      return;
    }
    case 'remove':
      admin.remove(event.node);
      return;
    case 'add':
      admin.add(event.node);
      return;
    case 'transfer': {
      const leader = admin.leader();
      trace.record(scheduler.now, 'transfer', `${leader?.id ?? '-'} -> ${event.node}`);
      leader?.transferLeader(event.node);
      return;
    }
  }
}

function armCrash(
  node: SimNode,
  on: CrashTrigger,
  downMs: number,
  scheduler: Scheduler,
  trace: Trace,
): void {
  trace.record(scheduler.now, 'trap', `${node.id} on ${on}`);
  node.armCrashTrap(on, () => {
    // The message is on the wire; the power goes before anything else runs.
    node.crash(false);
    scheduler.schedule(downMs, () => {
      if (node.state === 'down') node.start();
    });
  });
}

/**
 * The operator changing membership during the faults, as countctl would: ask the leader,
 * retry on refusal or timeout (bounded), and stop a node only once the leader's applied
 * configuration no longer has it.
 */
class MembershipAdmin {
  private busy = false;

  constructor(
    private readonly nodes: ReadonlyMap<string, SimNode>,
    private readonly scheduler: Scheduler,
    private readonly trace: Trace,
  ) {}

  /** The up node that leads the highest term, if any (first by id on a tie). */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const st = node.status();
      if (st !== null && st.role === 'leader' && st.term > bestTerm) {
        best = node;
        bestTerm = st.term;
      }
    }
    return best;
  }

  remove(id: string): void {
    if (this.busy) return;
    this.busy = true;
    this.trace.record(this.scheduler.now, 'admin', `remove ${id}`);
    this.step(id, 'remove', 0);
  }

  add(id: string): void {
    if (this.busy || this.nodes.get(id)!.state !== 'removed') return;
    this.busy = true;
    this.trace.record(this.scheduler.now, 'admin', `add ${id}`);
    this.nodes.get(id)!.start();
    this.step(id, 'add', 0);
  }

  private step(id: string, goal: 'remove' | 'add', attempt: number): void {
    const target = this.nodes.get(id)!;
    const retry = (): void => {
      if (attempt + 1 >= ADMIN_MAX_ATTEMPTS) {
        this.trace.record(this.scheduler.now, 'admin', `gave up ${goal} ${id}`);
        this.busy = false;
        return;
      }
      this.scheduler.schedule(ADMIN_RETRY_MS, () => this.step(id, goal, attempt + 1));
    };
    const leader = this.leader();
    const conf = leader?.status()?.conf;
    if (leader === null || conf === undefined) {
      retry();
      return;
    }
    const voter = conf.voters.includes(id);
    const learner = conf.learners.includes(id);
    if (goal === 'remove') {
      if (!voter && !learner) {
        this.trace.record(this.scheduler.now, 'admin', `removed ${id}`);
        if (target.state !== 'removed') target.retire();
        this.busy = false;
        return;
      }
      this.await(leader.changeMembership({ type: 'removeNode', node: id, context: '' }), retry);
      return;
    }
    if (voter) {
      this.trace.record(this.scheduler.now, 'admin', `added ${id}`);
      this.busy = false;
      return;
    }
    const type = learner ? 'addVoter' : 'addLearner';
    this.await(leader.changeMembership({ type, node: id, context: '' }), retry);
  }

  /** Continues after the request settles, or after a timeout if it never does. */
  private await(request: Promise<unknown>, then: () => void): void {
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      then();
    };
    request.then(once, once);
    this.scheduler.schedule(ADMIN_TIMEOUT_MS, once);
  }
}

import type { ClusterEnv } from '../env/cluster-env.js';
import { CountError } from '../model/errors.js';
import type { ClusterState, PendingOperation, RangeBounds } from './cluster-state.js';
import { isOwner } from './cluster-state.js';
import { type ClusterMetadata, META_EPOCH } from './metadata.js';
import { changedRanges, ownersAfter } from './ring.js';

/**
 * The driver of staged operations, run by the metadata leader: after `prepare` it waits until a
 * quorum of the affected replicas has seen the prepared epoch, commits `start` (pending owners
 * become write replicas), waits again, has every pending owner stream its new ranges from a
 * current owner (helper C's streamRange, called on the pending owner through 'meta.stream'),
 * commits `mid` (reads move to the new owners, writes still reach both), waits again, and
 * commits `finish` (the old owners stop being replicas). If the leader dies or a step fails, the operation
 * stays in flight, locked, until `resume` (runs the remaining steps again: every step is
 * idempotent) or `cancel`.
 */

/** Request on the pending owner: { range, from } -> { series, points }. */
export const META_STREAM = 'meta.stream';

export type StreamRange = (
  range: RangeBounds,
  fromPeer: string,
) => Promise<{ series: number; points: number }>;

export type OperationPhase =
  | 'waiting-epoch'
  | 'starting'
  | 'streaming'
  | 'moving-reads'
  | 'finishing'
  | 'done'
  | 'failed';

export interface OperationProgress {
  readonly opId: number;
  readonly kind: PendingOperation['kind'];
  readonly node: string;
  readonly phase: OperationPhase;
  readonly streamsDone: number;
  readonly streamsTotal: number;
  readonly series: number;
  readonly points: number;
  readonly error: string | null;
}

/**
 * Bugs planted on purpose (for the simulator's checkers): pull a moved range from one old
 * replica only; commit steps without waiting for the affected replicas to see the epoch;
 * finish without streaming at all.
 */
export type OperationBug = 'single-source-stream' | 'skip-epoch-wait' | 'finish-without-stream';

export const OPERATION_BUGS: readonly OperationBug[] = [
  'single-source-stream',
  'skip-epoch-wait',
  'finish-without-stream',
];

export interface OperationOptions {
  /**
   * Per 'meta.epoch' probe; short because a lost probe is simply asked again (the first probe
   * of a joiner often dies with the connection it used to reach its seed).
   */
  readonly probeTimeoutMs: number;
  /** How long a step waits for a quorum of affected replicas to see the previous epoch. */
  readonly epochWaitMs: number;
  /** Per range stream request (streams can be long). */
  readonly streamTimeoutMs: number;
  /** Streams running at once. */
  readonly maxParallelStreams: number;
  /** Attempts per stream (each from the next source replica). */
  readonly streamAttempts: number;
  /** How often a leader looks for an operation it should take over. */
  readonly watchEveryMs: number;
  readonly bugs: ReadonlySet<OperationBug>;
}

export const DEFAULT_OPERATION_OPTIONS: OperationOptions = {
  probeTimeoutMs: 250,
  epochWaitMs: 30_000,
  streamTimeoutMs: 10 * 60_000,
  maxParallelStreams: 4,
  streamAttempts: 3,
  watchEveryMs: 1000,
  bugs: new Set<OperationBug>(),
};

interface StreamTask {
  readonly range: RangeBounds;
  readonly to: string;
  /** Old replicas to pull from, best first. */
  readonly sources: readonly string[];
  /**
   * How many of them to pull from: a majority of the old replicas, so that every write
   * acknowledged at quorum (present on a majority of them) reaches the new replica.
   */
  readonly need: number;
}

/** The streams an operation needs: each new replica of a moved range pulls from old ones. */
export function streamPlan(
  state: ClusterState,
  bugs: ReadonlySet<OperationBug> = new Set(),
): StreamTask[] {
  const op = state.operation;
  if (op === null) return [];
  const before = Object.values(state.nodes).filter(isOwner);
  const tasks: StreamTask[] = [];
  for (const m of changedRanges(before, ownersAfter(state), state.rf)) {
    // A removed node is presumed dead: never a source. A decommissioned one is the best source.
    let sources = m.from.filter((id) => !(op.kind === 'remove' && id === op.node));
    if (op.kind === 'decommission' && sources.includes(op.node)) {
      sources = [op.node, ...sources.filter((id) => id !== op.node)];
    }
    const majority = Math.floor(m.from.length / 2) + 1;
    const need = Math.min(sources.length, bugs.has('single-source-stream') ? 1 : majority);
    for (const to of m.to) {
      if (!m.from.includes(to)) tasks.push({ range: m.range, to, sources, need });
    }
  }
  return tasks;
}

/**
 * The replica groups whose view of the epoch matters: per moved range, its old replicas and
 * its new replicas (not a node being removed, presumed dead). A step waits for a majority of each.
 */
export function affectedGroups(state: ClusterState): string[][] {
  const op = state.operation;
  if (op === null) return [];
  const before = Object.values(state.nodes).filter(isOwner);
  const groups = new Map<string, string[]>();
  for (const m of changedRanges(before, ownersAfter(state), state.rf)) {
    // Old and new replicas separately: a majority of the old ones refusing stale coordinators
    // is what keeps a quorum write under the old ring from being acknowledged.
    for (const g of [m.from, m.to]) {
      const ids = g.filter((id) => !(op.kind === 'remove' && id === op.node)).sort();
      if (ids.length > 0) groups.set(ids.join(','), ids);
    }
  }
  // The node itself sees every step (a joiner must know it is a write replica).
  if (op.kind !== 'remove') groups.set(op.node, [op.node]);
  return [...groups.values()];
}

export class OperationDriver {
  private running: { opId: number; aborted: boolean; promise: Promise<void> } | null = null;
  private last: OperationProgress | null = null;
  /** The last operation this node started driving (automatic runs happen once per operation). */
  private attempted = -1;
  private watchTimer: { cancel(): void } | null = null;
  private readonly opts: OperationOptions;

  constructor(
    private readonly env: ClusterEnv,
    private readonly metadata: ClusterMetadata,
    private readonly stream: StreamRange,
    options: Partial<OperationOptions> = {},
  ) {
    this.opts = { ...DEFAULT_OPERATION_OPTIONS, ...options };
  }

  /** Serves 'meta.stream' on this node: pull one range from a current owner. */
  listen(): void {
    this.env.net.on(META_STREAM, async (driver, payload) => {
      const p = payload as { range?: RangeBounds; from?: unknown; epoch?: unknown } | null;
      if (p === null || typeof p.from !== 'string' || typeof p.range?.start !== 'string') {
        throw new CountError('invalid_body', 'meta.stream needs { range, from }');
      }
      // Know the started step before data streams in: with an older ring this node's range
      // cleanup could still drop the range it is now a write replica of.
      if (typeof p.epoch === 'number' && p.epoch > this.metadata.epoch()) {
        await this.metadata.catchUp(p.epoch, driver);
      }
      return this.stream({ start: p.range.start, end: p.range.end }, p.from);
    });
  }

  /**
   * Leader failover: a node that becomes the metadata leader and finds an operation in flight
   * that it never drove runs it once on its own (checked every `watchEveryMs`). An operation
   * that failed here waits for an explicit resume or cancel.
   */
  watch(): void {
    if (this.watchTimer !== null) return;
    const tick = (): void => {
      this.watchTimer = this.env.setTimer(this.opts.watchEveryMs, () => {
        const op = this.metadata.state().operation;
        if (
          op !== null &&
          op.id !== this.attempted &&
          this.running === null &&
          this.metadata.isLeader()
        ) {
          this.run().catch(() => {});
        }
        tick();
      });
    };
    tick();
  }

  unwatch(): void {
    this.watchTimer?.cancel();
    this.watchTimer = null;
  }

  progress(): OperationProgress | null {
    return this.last;
  }

  isRunning(opId?: number): boolean {
    return this.running !== null && (opId === undefined || this.running.opId === opId);
  }

  /**
   * Runs the remaining steps of the operation in flight (no-op if it is already running here).
   * Resolves when it finished; rejects (the operation stays in flight) when a step failed.
   */
  run(): Promise<void> {
    const op = this.metadata.state().operation;
    if (op === null) return Promise.resolve();
    if (this.running !== null && this.running.opId === op.id) return this.running.promise;
    this.attempted = op.id;
    const run = { opId: op.id, aborted: false, promise: Promise.resolve() };
    run.promise = this.drive(op.id, run).finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run.promise;
  }

  /** Stops driving (before a cancel); streams already sent finish on their own. */
  abort(): void {
    if (this.running !== null) this.running.aborted = true;
  }

  private setProgress(op: PendingOperation, patch: Partial<OperationProgress>): void {
    const base: OperationProgress =
      this.last !== null && this.last.opId === op.id
        ? this.last
        : {
            opId: op.id,
            kind: op.kind,
            node: op.node,
            phase: 'waiting-epoch',
            streamsDone: 0,
            streamsTotal: 0,
            series: 0,
            points: 0,
            error: null,
          };
    this.last = { ...base, ...patch };
  }

  private current(opId: number, run: { aborted: boolean }): PendingOperation | null {
    if (run.aborted) throw new CountError('conflict', `operation ${opId} was cancelled`);
    const op = this.metadata.state().operation;
    if (op === null || op.id !== opId) return null;
    return op;
  }

  private async drive(opId: number, run: { aborted: boolean }): Promise<void> {
    let op = this.current(opId, run);
    if (op === null) return;
    try {
      if (op.step === 'prepared') {
        this.setProgress(op, { phase: 'waiting-epoch', error: null });
        await this.waitEpochSeen(op.stepEpoch, affectedGroups(this.metadata.state()));
        op = this.current(opId, run);
        if (op === null) return;
        this.setProgress(op, { phase: 'starting' });
        await this.metadata.propose({ type: 'start', opId });
        op = this.current(opId, run);
        if (op === null) return;
      }
      if (op.step === 'started') {
        this.setProgress(op, { phase: 'waiting-epoch' });
        await this.waitEpochSeen(op.stepEpoch, affectedGroups(this.metadata.state()));
        if (!this.opts.bugs.has('finish-without-stream')) await this.streamAll(op, run);
        op = this.current(opId, run);
        if (op === null) return;
        this.setProgress(op, { phase: 'moving-reads' });
        await this.metadata.propose({ type: 'mid', opId });
        op = this.current(opId, run);
        if (op === null) return;
      }
      // Reads are on the new owners, writes still on both. The old owners stop receiving
      // writes only once a majority of every affected group refuses coordinators that would
      // still read the old owners.
      this.setProgress(op, { phase: 'waiting-epoch' });
      await this.waitEpochSeen(op.stepEpoch, affectedGroups(this.metadata.state()));
      op = this.current(opId, run);
      if (op === null) return;
      this.setProgress(op, { phase: 'finishing' });
      await this.metadata.propose({ type: 'finish', opId });
      this.setProgress(op, { phase: 'done' });
    } catch (e) {
      if (op !== null) {
        this.setProgress(op, {
          phase: 'failed',
          error: e instanceof Error ? e.message : String(e),
        });
      }
      throw e;
    }
  }

  /**
   * Waits until a majority of every group reports an epoch >= `epoch` (each node is asked with
   * meta.epoch, which also makes a node that is behind catch up).
   */
  async waitEpochSeen(epoch: number, groups: readonly (readonly string[])[]): Promise<void> {
    if (this.opts.bugs.has('skip-epoch-wait')) return;
    const nodes = [...new Set(groups.flat())].sort();
    if (nodes.length === 0) return;
    const seen = new Set<string>();
    const short = (): { group: readonly string[]; have: number; need: number } | null => {
      for (const g of groups) {
        const need = Math.floor(g.length / 2) + 1;
        const have = g.filter((id) => seen.has(id)).length;
        if (have < need) return { group: g, have, need };
      }
      return null;
    };
    const deadline = this.env.monotonic() + this.opts.epochWaitMs;
    for (let round = 0; ; round++) {
      await Promise.all(
        nodes
          .filter((id) => !seen.has(id))
          .map(async (id) => {
            if (id === this.env.nodeId) {
              if (this.metadata.epoch() >= epoch) seen.add(id);
              return;
            }
            try {
              const r = (await this.env.net.request(
                id,
                META_EPOCH,
                { epoch },
                this.opts.probeTimeoutMs,
              )) as { epoch?: unknown };
              if (typeof r?.epoch === 'number' && r.epoch >= epoch) seen.add(id);
            } catch {
              // Unreachable now; the next round asks again.
            }
          }),
      );
      const missing = short();
      if (missing === null) return;
      if (this.env.monotonic() >= deadline) {
        throw new CountError(
          'consistency_unavailable',
          `only ${missing.have} of ${missing.group.length} affected replicas (${missing.group.join(', ')}) saw epoch ${epoch} (need ${missing.need})`,
          { details: { seen: [...seen], group: missing.group, epoch } },
        );
      }
      await new Promise<void>((r) => this.env.setTimer(Math.min(1000, 50 * (round + 1)), r));
    }
  }

  private async streamAll(op: PendingOperation, run: { aborted: boolean }): Promise<void> {
    const tasks = streamPlan(this.metadata.state(), this.opts.bugs);
    this.setProgress(op, {
      phase: 'streaming',
      streamsDone: 0,
      streamsTotal: tasks.length,
      series: 0,
      points: 0,
    });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length) {
        if (run.aborted) throw new CountError('conflict', `operation ${op.id} was cancelled`);
        const task = tasks[next++];
        const r = await this.streamOne(task);
        const p = this.last!;
        this.setProgress(op, {
          streamsDone: p.streamsDone + 1,
          series: p.series + r.series,
          points: p.points + r.points,
        });
      }
    };
    const workers = Math.max(1, Math.min(this.opts.maxParallelStreams, tasks.length));
    await Promise.all(Array.from({ length: workers }, () => worker()));
  }

  /** Pulls the range into `task.to` from `task.need` distinct sources (next source on failure). */
  private async streamOne(task: StreamTask): Promise<{ series: number; points: number }> {
    if (task.sources.length === 0) {
      // No surviving replica holds the range (e.g. rf=1 and its owner was removed): nothing to copy.
      return { series: 0, points: 0 };
    }
    let series = 0;
    let points = 0;
    let done = 0;
    let lastError: unknown = null;
    const tries = task.sources.length * this.opts.streamAttempts;
    const pulled = new Set<string>();
    for (let attempt = 0; attempt < tries && done < task.need; attempt++) {
      const from = task.sources[attempt % task.sources.length];
      if (pulled.has(from)) continue;
      try {
        const r = await this.pull(task, from);
        series = Math.max(series, r.series);
        points += r.points;
        pulled.add(from);
        done++;
      } catch (e) {
        lastError = e;
      }
    }
    if (done < task.need) {
      throw new CountError(
        'consistency_unavailable',
        `streaming ${task.range.start}..${task.range.end} to ${task.to}: ${done} of ${task.need} sources succeeded: ${
          lastError instanceof Error ? lastError.message : String(lastError)
        }`,
      );
    }
    return { series, points };
  }

  private async pull(task: StreamTask, from: string): Promise<{ series: number; points: number }> {
    if (task.to === this.env.nodeId) return this.stream(task.range, from);
    const r = (await this.env.net.request(
      task.to,
      META_STREAM,
      { range: task.range, from, epoch: this.metadata.epoch() },
      this.opts.streamTimeoutMs,
    )) as { series?: unknown; points?: unknown };
    return {
      series: typeof r?.series === 'number' ? r.series : 0,
      points: typeof r?.points === 'number' ? r.points : 0,
    };
  }
}

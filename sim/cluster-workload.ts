import type { Coordinator } from '../src/distributed/coordinator.js';
import { PointBatch } from '../src/model/batch.js';
import { CountError } from '../src/model/errors.js';
import type { Samples } from '../src/model/point.js';
import { parseSelector } from '../src/query/selectors.js';
import type { Consistency } from '../src/server/data-service.js';
import { checkAggregateAnswer, checkQueryAnswer } from './checkers/query-honesty.js';
import { checkQuorumRead } from './checkers/quorum-durability.js';
import { ClusterHistory, MAX_HISTORY_POINTS } from './cluster-history.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import { SIM_EPOCH_MS } from './sim-env.js';
import type { Trace } from './trace.js';

/**
 * The data workload: clients write points to random coordinators at random consistency levels
 * (sometimes rewriting a timestamp they wrote before, to exercise the convergence rule), read
 * single series at quorum, and run multi-series queries at quorum. Every answer is checked
 * against the history of acknowledged writes as it arrives, so a failure names the request.
 */
export interface ClusterWorkloadOptions {
  readonly clients: number;
  readonly series: number;
  readonly stopAtMs: number;
  /** A request not answered within this is abandoned (its outcome is unknown). */
  readonly timeoutMs: number;
  readonly thinkMs: readonly [number, number];
}

export interface ClusterWorkloadTarget {
  /** Coordinators that are up now, by id (sorted). */
  upNodes(): string[];
  coordinator(node: string): Coordinator | null;
  /** Planted 'partial-lies': the node's answers drop partial/missing. */
  readonly partialLies: boolean;
  /** Reports a checker's violation (the run decides whether that checker is enabled). */
  violation(checker: string, explanation: string): void;
}

export interface ClusterWorkloadStats {
  writes: number;
  acked: number;
  reads: number;
  queries: number;
  partial: number;
  failed: number;
  unknown: number;
}

/** Timestamps start 10 minutes before the virtual epoch: inside every node's write window. */
export const WORKLOAD_BASE_MS = SIM_EPOCH_MS - 600_000;
const READ_END = WORKLOAD_BASE_MS + 1e9;
const LEVELS: readonly Consistency[] = ['one', 'quorum', 'quorum', 'all'];

export class ClusterWorkload {
  readonly history = new ClusterHistory();
  readonly stats: ClusterWorkloadStats = {
    writes: 0,
    acked: 0,
    reads: 0,
    queries: 0,
    partial: 0,
    failed: 0,
    unknown: 0,
  };
  private readonly names: string[];
  private readonly written: [number, number][][];

  constructor(
    private readonly options: ClusterWorkloadOptions,
    private readonly scheduler: Scheduler,
    private readonly random: SimRandom,
    private readonly trace: Trace,
    private readonly target: ClusterWorkloadTarget,
  ) {
    this.names = Array.from({ length: options.series }, (_, i) => `m{s="${i}"}`);
    this.written = Array.from({ length: options.clients }, () => []);
  }

  start(): void {
    for (let c = 0; c < this.options.clients; c++) this.next(c);
  }

  /** One more quorum read of every acknowledged series, through `node` (after recovery). */
  finalReads(node: string): void {
    let i = 0;
    const series = this.history.ackedSeries();
    const step = (): void => {
      if (i >= series.length) return;
      const s = series[i++];
      this.read(-1, node, s, step);
    };
    step();
  }

  private next(client: number): void {
    const [lo, hi] = this.options.thinkMs;
    this.scheduler.schedule(this.random.int(lo, hi), () => {
      if (this.scheduler.now >= this.options.stopAtMs) return;
      const up = this.target.upNodes();
      if (up.length === 0) {
        this.next(client);
        return;
      }
      const node = this.random.pick(up);
      const roll = this.random.next();
      const again = (): void => this.next(client);
      if (roll < 0.6 && this.history.points < MAX_HISTORY_POINTS) this.write(client, node, again);
      else if (roll < 0.85) this.read(client, node, this.random.pick(this.names), again);
      else this.query(client, node, again);
    });
  }

  private write(client: number, node: string, then: () => void): void {
    const level = this.random.pick(LEVELS);
    const n = this.random.int(1, 3);
    const batch = new PointBatch(n);
    const mine = this.written[client];
    const pts: [string, number, number][] = [];
    for (let i = 0; i < n; i++) {
      const series = this.random.pick(this.names);
      let t: number;
      if (mine.length > 0 && this.random.chance(0.1)) {
        // A rewrite of an earlier point: the larger value must win everywhere.
        const old = this.random.pick(mine);
        if (pts.some((p) => p[0] === this.names[old[0]] && p[1] === old[1])) continue;
        t = old[1];
        pts.push([this.names[old[0]], t, this.random.int(0, 1000)]);
        continue;
      }
      t = WORKLOAD_BASE_MS + (mine.length * this.options.clients + client) * 10;
      mine.push([this.names.indexOf(series), t]);
      pts.push([series, t, this.random.int(0, 1000)]);
    }
    for (const [s, t, v] of pts) {
      batch.add(s, t, v);
      this.history.attempted(s, t, v);
    }
    this.stats.writes++;
    const desc = `c${client} write ${level} via ${node} ${pts.map((p) => `${p[0]}@${p[1]}=${p[2]}`).join(' ')}`;
    this.call(
      node,
      desc,
      (co) => co.write(batch, level),
      then,
      () => {
        if (level === 'one') return;
        this.stats.acked++;
        for (const [s, t, v] of pts) this.history.acknowledged(s, t, v, this.scheduler.now);
      },
    );
  }

  private read(client: number, node: string, series: string, then: () => void): void {
    const invokedAt = this.scheduler.now;
    this.stats.reads++;
    this.call(
      node,
      `c${client} read quorum via ${node} ${series}`,
      (co) => co.readRange(series, WORKLOAD_BASE_MS, READ_END, 'quorum'),
      then,
      (r) => {
        const why = checkQuorumRead(this.history, {
          series,
          start: WORKLOAD_BASE_MS,
          end: READ_END,
          invokedAt,
          coordinator: node,
          samples: r.points,
        });
        if (why !== null) this.report('quorum-durability', why);
      },
    );
  }

  private query(client: number, node: string, then: () => void): void {
    if (this.random.chance(0.4)) {
      this.aggregate(client, node, this.random.pick(['count', 'max'] as const), then);
      return;
    }
    const invokedAt = this.scheduler.now;
    const selected = this.history.ackedSeries();
    this.stats.queries++;
    this.call(
      node,
      `c${client} query quorum via ${node}`,
      (co) =>
        co.query(
          { selector: parseSelector('m'), start: WORKLOAD_BASE_MS, end: READ_END },
          'quorum',
        ),
      then,
      (r) => {
        const results = new Map<string, Samples>();
        for (const x of r.results)
          if ('series' in x && 'points' in x) results.set(x.series, x.points);
        let partial = r.partial;
        let missing = r.missing ?? [];
        if (this.target.partialLies) {
          partial = false;
          missing = [];
        }
        if (partial) this.stats.partial++;
        const why = checkQueryAnswer(this.history, {
          invokedAt,
          coordinator: node,
          start: WORKLOAD_BASE_MS,
          end: READ_END,
          selected,
          results,
          partial,
          missing,
        });
        if (why !== null) this.report('query-honesty', why);
      },
    );
  }

  /** A per-series aggregate over the whole window, pushed down to the replicas. */
  private aggregate(client: number, node: string, fn: 'count' | 'max', then: () => void): void {
    const invokedAt = this.scheduler.now;
    const selected = this.history.ackedSeries();
    this.stats.queries++;
    // One bucket per series: the step spans the whole window.
    const step = READ_END - WORKLOAD_BASE_MS;
    this.call(
      node,
      `c${client} query ${fn} quorum via ${node}`,
      (co) =>
        co.query(
          { selector: parseSelector('m'), start: WORKLOAD_BASE_MS, end: READ_END, fn, step },
          'quorum',
        ),
      then,
      (r) => {
        const values = new Map<string, number>();
        for (const x of r.results) {
          if ('series' in x && 'buckets' in x && x.buckets.length > 0) {
            values.set(x.series, x.buckets[0].value);
          }
        }
        const lie = this.target.partialLies;
        const partial = lie ? false : r.partial;
        const missing = lie ? [] : (r.missing ?? []);
        if (partial) this.stats.partial++;
        const why = checkAggregateAnswer(this.history, {
          invokedAt,
          coordinator: node,
          start: WORKLOAD_BASE_MS,
          end: READ_END,
          selected,
          fn,
          values,
          partial,
          missing,
        });
        if (why !== null) this.report('query-honesty', why);
      },
    );
  }

  private report(checker: string, explanation: string): void {
    this.trace.record(this.scheduler.now, 'violation', checker);
    this.target.violation(checker, explanation);
  }

  /** Runs one request with a client-side deadline; `ok` sees the answer, `then` always runs. */
  private call<T>(
    node: string,
    desc: string,
    request: (co: Coordinator) => Promise<T>,
    then: () => void,
    ok: (answer: T) => void,
  ): void {
    const co = this.target.coordinator(node);
    const now = this.scheduler.now;
    this.trace.record(now, 'invoke', desc);
    if (co === null) {
      this.stats.failed++;
      this.trace.record(now, 'fail', `${desc}: down`);
      then();
      return;
    }
    let settled = false;
    const timer = this.scheduler.schedule(this.options.timeoutMs, () => {
      if (settled) return;
      settled = true;
      this.stats.unknown++;
      this.trace.record(this.scheduler.now, 'unknown', desc);
      then();
    });
    request(co).then(
      (answer) => {
        if (settled) return;
        settled = true;
        timer.cancelled = true;
        this.trace.record(this.scheduler.now, 'ok', desc);
        ok(answer);
        then();
      },
      (e: unknown) => {
        if (settled) return;
        settled = true;
        timer.cancelled = true;
        this.stats.failed++;
        const code =
          e instanceof CountError ? e.code : `${(e as Error)?.name}: ${(e as Error)?.message}`;
        this.trace.record(this.scheduler.now, 'fail', `${desc}: ${code}`);
        then();
      },
    );
  }
}

import { assert } from '../src/model/assert.js';
import type { HistoryOp, KvInput, KvOutput, OpStatus } from './checkers/linearizability.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

/**
 * The metadata workload: a few clients issue put, get and compare-and-set on a few keys, each
 * to some node, one operation at a time, with a timeout. Every operation is recorded as the
 * client saw it -- ok, fail (certainly not applied) or info (timed out: maybe applied) -- for
 * the linearizability checker. Clients sit outside the network partitions, as Jepsen's do.
 */
export type KvReply =
  | { readonly status: 'ok'; readonly output: KvOutput }
  /** Certainly not applied (not the leader, refused, node down). `leader` is a hint. */
  | { readonly status: 'fail'; readonly reason: string; readonly leader: string | null };

/** How clients reach the nodes: the simulation routes a request to one node's server. */
export interface KvEndpoint {
  submit(node: string, input: KvInput): Promise<KvReply>;
}

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  readonly nodes: readonly string[];
  /** Clients invoke no new operation at or after this virtual time. */
  readonly stopAtMs: number;
  readonly timeoutMs: number;
  /** Pause between an operation's completion and the client's next invocation. */
  readonly thinkMs: readonly [number, number];
  /** One-way latency between a client and a node. */
  readonly latencyMs: readonly [number, number];
}

/** Bound on recorded operations per run: the checker's work grows with it. */
const MAX_OPS = 20_000;

export class Workload {
  readonly history: HistoryOp[] = [];
  private nextOp = 0;
  private opsInFlight = 0;
  /** Per client: the node it believes leads, learned from refusals. */
  private readonly leaderHint: (string | null)[];
  /** Per client: its last operation was refused with a hint to another node. */
  private readonly redirected: boolean[];
  /** Per client and key: the last value it saw, used as a compare-and-set expectation. */
  private readonly seen: Map<string, string | null>[];
  stats = { ok: 0, fail: 0, info: 0 };

  constructor(
    private readonly options: WorkloadOptions,
    private readonly scheduler: Scheduler,
    private readonly random: SimRandom,
    private readonly trace: Trace,
    private readonly endpoint: KvEndpoint,
  ) {
    assert(options.clients > 0 && options.keys > 0, 'Workload: need clients and keys');
    this.leaderHint = new Array(options.clients).fill(null);
    this.redirected = new Array(options.clients).fill(false);
    this.seen = Array.from({ length: options.clients }, () => new Map());
  }

  start(): void {
    for (let c = 0; c < this.options.clients; c++) this.scheduleNext(c);
  }

  /** True when no operation is waiting for an answer. */
  get idle(): boolean {
    return this.opsInFlight === 0;
  }

  private scheduleNext(client: number, redirected = false): void {
    const [lo, hi] = this.options.thinkMs;
    // A client told "not the leader, try X" goes to X at once, as real clients do.
    const delay = redirected ? 0 : this.random.int(lo, hi);
    if (this.scheduler.now + delay >= this.options.stopAtMs) return;
    if (this.nextOp >= MAX_OPS) return;
    this.scheduler.schedule(delay, () => this.invoke(client));
  }

  private chooseInput(client: number, seq: number): KvInput {
    const key = `k${this.random.int(0, this.options.keys - 1)}`;
    const roll = this.random.next();
    if (roll < 0.4) return { f: 'get', key };
    const value = `c${client}.${seq}`;
    if (roll < 0.75) return { f: 'put', key, value };
    const expected = this.random.chance(0.8) ? (this.seen[client].get(key) ?? null) : null;
    return { f: 'cas', key, expected, value };
  }

  private invoke(client: number): void {
    const id = this.nextOp++;
    const input = this.chooseInput(client, id);
    const hint = this.leaderHint[client];
    const node =
      hint !== null && (this.redirected[client] || this.random.chance(0.8))
        ? hint
        : this.random.pick(this.options.nodes);
    this.redirected[client] = false;
    const invokedAt = this.scheduler.now;
    this.opsInFlight++;
    this.trace.record(invokedAt, 'invoke', `c${client} #${id} ${node} ${JSON.stringify(input)}`);
    let done = false;
    const finish = (status: OpStatus, output: KvOutput, why: string): void => {
      if (done) return;
      done = true;
      this.opsInFlight--;
      const completedAt = this.scheduler.now;
      const out = JSON.stringify(output);
      this.trace.record(completedAt, 'complete', `c${client} #${id} ${status} ${out} ${why}`);
      this.history.push({
        id,
        client,
        input,
        invoke: invokedAt,
        complete: completedAt,
        status,
        output,
      });
      this.stats[status]++;
      if (status === 'ok' && output !== null && 'value' in output) {
        this.seen[client].set(input.key, output.value);
      } else if (status === 'ok' && input.f !== 'get') {
        this.seen[client].set(input.key, input.value);
      }
      const redirect =
        status === 'fail' && this.leaderHint[client] !== null && this.leaderHint[client] !== node;
      this.redirected[client] = redirect;
      this.scheduleNext(client, redirect);
    };
    const timeout = this.scheduler.schedule(this.options.timeoutMs, () =>
      finish('info', null, 'timeout'),
    );
    const [lo, hi] = this.options.latencyMs;
    this.scheduler.schedule(this.random.int(lo, hi), () => {
      if (done) return;
      this.endpoint.submit(node, input).then(
        (reply) => {
          // The reply travels back; it may arrive after the client gave up.
          this.scheduler.schedule(this.random.int(lo, hi), () => {
            if (done) return;
            timeout.cancelled = true;
            if (reply.status === 'ok') {
              this.leaderHint[client] = node;
              finish('ok', reply.output, 'ok');
            } else {
              this.leaderHint[client] = reply.leader;
              finish('fail', null, reply.reason);
            }
          });
        },
        (err: unknown) => {
          // An unexpected error from the node: the client cannot know whether it applied.
          this.scheduler.schedule(0, () => finish('info', null, `error: ${String(err)}`));
        },
      );
    });
  }
}

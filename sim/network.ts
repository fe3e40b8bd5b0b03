import { assert } from '../src/model/assert.js';
import type { Partition } from './partitions.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

/**
 * The simulated network between nodes. Each packet gets a random delay (so packets reorder),
 * may be dropped or duplicated, and is dropped when a partition cuts its link at send or at
 * delivery time, or when the receiver is down. Every decision draws from the network's own
 * random stream and is written to the trace.
 */
export interface NetworkFaults {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
  /** Probability that a packet is held back up to `longDelayMs` (deep reordering). */
  readonly longDelayRate: number;
  readonly longDelayMs: number;
}

export const DEFAULT_NETWORK_FAULTS: NetworkFaults = {
  minDelayMs: 1,
  maxDelayMs: 10,
  dropRate: 0.02,
  duplicateRate: 0.01,
  longDelayRate: 0.01,
  longDelayMs: 300,
};

export interface Packet {
  readonly from: string;
  readonly to: string;
}

/**
 * Writes a packet's trace fields as numbers into `out` from `offset` and returns the offset
 * after them, or -1 when the packet has a field numbers cannot carry (it is then traced by its
 * `describe` line). The numbers must tell packets apart as well as the line does.
 */
export type PacketEncoder<M> = (message: M, out: Int32Array, offset: number) => number;

/** Codes of numeric trace records; `values[0]` of each. */
const SEND = 1;
const DELIVER = 2;
const DROP_AT_SEND = 3;
const DROP = 4;
/** Drop reasons as numbers, in the order of DROP_REASONS. */
const DROP_REASONS = ['partitioned', 'lost', 'down'] as const;
type DropReason = (typeof DROP_REASONS)[number];
/** Room for a packet's numeric record: 6 header fields and the encoder's. */
const SCRATCH_SIZE = 64;

export class SimNetwork<M extends Packet> {
  private readonly index = new Map<string, number>();
  /** blocked[from * n + to] = 1 when the link drops packets. */
  private blocked: Uint8Array;
  private readonly handlers: (((message: M) => void) | undefined)[];
  faults: NetworkFaults;
  /** Packets in flight; bounded so a send storm fails loudly. */
  inFlight = 0;
  readonly maxInFlight: number;
  sent = 0;
  delivered = 0;
  dropped = 0;
  private encode: PacketEncoder<M> | undefined;
  private readonly scratch = new Int32Array(SCRATCH_SIZE);

  constructor(
    private readonly scheduler: Scheduler,
    readonly nodes: readonly string[],
    private readonly random: SimRandom,
    private readonly trace: Trace,
    private readonly describe: (message: M) => string,
    faults: NetworkFaults = DEFAULT_NETWORK_FAULTS,
    maxInFlight = 200_000,
  ) {
    nodes.forEach((node, i) => {
      this.index.set(node, i);
    });
    this.blocked = new Uint8Array(nodes.length * nodes.length);
    this.handlers = new Array(nodes.length).fill(undefined);
    this.faults = faults;
    this.maxInFlight = maxInFlight;
  }

  /**
   * Traces packets as numbers through `encode` instead of `describe` lines: a packet is
   * described in full when sent and by its sequence number when delivered or dropped. With
   * lines kept (--trace), each line still names the packet in full.
   */
  encodeWith(encode: PacketEncoder<M>): void {
    this.encode = encode;
  }

  /** Connects a running node; its packets are delivered to `handler` until `detach`. */
  attach(node: string, handler: (message: M) => void): void {
    this.handlers[this.slot(node)] = handler;
  }

  /** The node is down: packets to it are dropped on arrival. */
  detach(node: string): void {
    this.handlers[this.slot(node)] = undefined;
  }

  partition(p: Partition): void {
    this.blocked.fill(0);
    const n = this.nodes.length;
    for (const [from, to] of p.blocked) this.blocked[this.slot(from) * n + this.slot(to)] = 1;
    this.trace.record(this.scheduler.now, 'partition', `${p.shape}: ${p.description}`);
  }

  heal(): void {
    this.blocked.fill(0);
    this.trace.record(this.scheduler.now, 'heal', '');
  }

  /** True when packets from `from` currently reach `to` (ignores random loss). */
  connected(from: string, to: string): boolean {
    return this.blocked[this.slot(from) * this.nodes.length + this.slot(to)] === 0;
  }

  send(message: M): void {
    if (this.encode !== undefined) {
      this.sendEncoded(message, this.encode);
      return;
    }
    this.sent++;
    const now = this.scheduler.now;
    // Described once: the same line names the packet at send, delivery and drop.
    const line = this.describe(message);
    if (!this.connected(message.from, message.to)) {
      this.drop(line, 'partitioned');
      return;
    }
    if (this.random.chance(this.faults.dropRate)) {
      this.drop(line, 'lost');
      return;
    }
    const copies = this.random.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = this.delay();
      assert(this.inFlight < this.maxInFlight, 'SimNetwork: too many packets in flight');
      this.inFlight++;
      this.trace.record(now, 'send', `${line} +${delay}${c > 0 ? ' dup' : ''}`);
      this.scheduler.schedule(delay, () => this.deliver(message, line));
    }
  }

  private delay(): number {
    const f = this.faults;
    if (this.random.chance(f.longDelayRate)) return this.random.int(f.maxDelayMs, f.longDelayMs);
    return this.random.int(f.minDelayMs, f.maxDelayMs);
  }

  private deliver(message: M, line: string): void {
    this.inFlight--;
    if (!this.connected(message.from, message.to)) {
      this.drop(line, 'partitioned');
      return;
    }
    const handler = this.handlers[this.slot(message.to)];
    if (handler === undefined) {
      this.drop(line, 'down');
      return;
    }
    this.delivered++;
    this.trace.record(this.scheduler.now, 'deliver', line);
    handler(message);
  }

  private drop(line: string, why: string): void {
    this.dropped++;
    this.trace.record(this.scheduler.now, 'drop', `${line} ${why}`);
  }

  /** `send` with the numeric trace (see `encodeWith`). Draws the same random numbers. */
  private sendEncoded(message: M, encode: PacketEncoder<M>): void {
    const seq = this.sent++;
    const now = this.scheduler.now;
    const from = this.slot(message.from);
    const to = this.slot(message.to);
    const out = this.scratch;
    out[1] = seq;
    out[2] = from;
    out[3] = to;
    const end = encode(message, out, 6);
    const lines = this.trace.keepsLines;
    const line = lines || end < 0 ? `#${seq} ${this.describe(message)}` : undefined;
    let why: DropReason | undefined;
    if (this.blocked[from * this.nodes.length + to] !== 0) why = 'partitioned';
    else if (this.random.chance(this.faults.dropRate)) why = 'lost';
    if (why !== undefined) {
      this.dropped++;
      if (end < 0) {
        this.trace.record(now, 'drop', `${line} ${why}`);
      } else {
        out[0] = DROP_AT_SEND;
        out[4] = DROP_REASONS.indexOf(why);
        out[5] = 0;
        this.trace.recordNumbers(now, 'drop', out, end, lines ? `${line} ${why}` : undefined);
      }
      return;
    }
    const copies = this.random.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = this.delay();
      assert(this.inFlight < this.maxInFlight, 'SimNetwork: too many packets in flight');
      this.inFlight++;
      if (end < 0) {
        this.trace.record(now, 'send', `${line} +${delay}${c > 0 ? ' dup' : ''}`);
      } else {
        out[0] = SEND;
        out[4] = delay;
        out[5] = c;
        const detail = lines ? `${line} +${delay}${c > 0 ? ' dup' : ''}` : undefined;
        this.trace.recordNumbers(now, 'send', out, end, detail);
      }
      this.scheduler.schedule(delay, () => this.deliverEncoded(message, seq));
    }
  }

  private deliverEncoded(message: M, seq: number): void {
    this.inFlight--;
    const to = this.slot(message.to);
    let why: DropReason | undefined;
    if (this.blocked[this.slot(message.from) * this.nodes.length + to] !== 0) why = 'partitioned';
    const handler = this.handlers[to];
    if (why === undefined && handler === undefined) why = 'down';
    const out = this.scratch;
    out[1] = seq;
    const line = this.trace.keepsLines ? `#${seq} ${this.describe(message)}` : undefined;
    if (why !== undefined) {
      this.dropped++;
      out[0] = DROP;
      out[2] = DROP_REASONS.indexOf(why);
      this.trace.recordNumbers(this.scheduler.now, 'drop', out, 3, line && `${line} ${why}`);
      return;
    }
    this.delivered++;
    out[0] = DELIVER;
    this.trace.recordNumbers(this.scheduler.now, 'deliver', out, 2, line);
    // Checked above: `why` is set whenever the handler is missing.
    (handler as (message: M) => void)(message);
  }

  private slot(node: string): number {
    const i = this.index.get(node);
    assert(i !== undefined, `SimNetwork: unknown node ${node}`);
    return i;
  }
}

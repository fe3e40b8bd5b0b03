import { Packr } from 'msgpackr';
import { EventQueue } from '../../sim/event-queue.js';
import { SimRandom } from '../../sim/random.js';
import { Gossip } from '../../src/cluster/gossip.js';
import type { Liveness } from '../../src/cluster/gossip-messages.js';
import type { GossipBug, GossipTiming } from '../../src/cluster/gossip-options.js';
import type { ClusterEnv, PeerNetwork } from '../../src/env/cluster-env.js';
import type { TimerHandle } from '../../src/env/env.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

/**
 * A deterministic, synchronous world for gossip tests: one virtual clock (sim/'s EventQueue),
 * seeded randomness per node (sim/'s SimRandom), and an in-memory PeerNetwork that delays,
 * drops (uniform loss), blocks directed links and partitions. Payloads cross it through msgpack,
 * as on the real transport. Nodes can be killed (timers and messages stop) and restarted with
 * a fresh Gossip, and a node can be stalled (its timers and deliveries run late, as on an
 * overloaded event loop). Gossip uses only one-way messages, so no promise ever needs settling.
 */
const SIM_EPOCH_MS = 1_767_225_600_000;

export interface LivenessEvent {
  readonly at: number;
  readonly observer: string;
  readonly member: string;
  readonly liveness: Liveness;
}

export interface HarnessOptions {
  readonly nodes: number;
  readonly seed: number;
  readonly timing?: Partial<GossipTiming>;
  readonly bugs?: readonly GossipBug[];
  /** Probability that any message is lost. */
  readonly loss?: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** 'all': every node starts knowing every other; 'first': everyone knows only n1. */
  readonly seeds?: 'all' | 'first';
}

interface SimNode {
  readonly id: string;
  life: number;
  up: boolean;
  stallUntil: number;
  gossip: Gossip;
  readonly handlers: Map<string, (from: string, payload: unknown) => unknown>;
  readonly peers: Map<string, string>;
  /** Messages this node sent, by channel (all lives). */
  readonly sent: Map<string, number>;
}

export class GossipHarness {
  readonly queue = new EventQueue();
  now = 0;
  readonly events: LivenessEvent[] = [];
  loss: number;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly nodes = new Map<string, SimNode>();
  private readonly group = new Map<string, number>();
  private readonly blocked = new Set<string>();
  private readonly netRandom: SimRandom;
  private readonly packr = new Packr({ useRecords: false });
  private readonly recordsPerMessage = new Map<string, number>();
  private readonly ports = new Map<string, number>();

  constructor(private readonly opts: HarnessOptions) {
    this.loss = opts.loss ?? 0;
    this.minDelay = opts.minDelayMs ?? 1;
    this.maxDelay = opts.maxDelayMs ?? 20;
    this.netRandom = SimRandom.stream(opts.seed, 'gossip-network');
    for (let i = 1; i <= opts.nodes; i++) {
      const id = `n${i}`;
      const node: SimNode = {
        id,
        life: 0,
        up: false,
        stallUntil: 0,
        gossip: null as unknown as Gossip,
        handlers: new Map(),
        peers: new Map(),
        sent: new Map(),
      };
      this.nodes.set(id, node);
    }
    for (const node of this.nodes.values()) node.gossip = this.makeGossip(node);
  }

  get ids(): string[] {
    return [...this.nodes.keys()];
  }

  gossip(id: string): Gossip {
    return this.node(id).gossip;
  }

  isUp(id: string): boolean {
    return this.node(id).up;
  }

  upIds(): string[] {
    return this.ids.filter((id) => this.node(id).up);
  }

  /** Addresses gossip handed to the network (addPeer) on node `id`. */
  peersOf(id: string): ReadonlyMap<string, string> {
    return this.node(id).peers;
  }

  sentBy(id: string, channel: string): number {
    return this.node(id).sent.get(channel) ?? 0;
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  start(id: string): void {
    const node = this.node(id);
    node.up = true;
    node.gossip.start();
  }

  /** The process dies: its timers never fire and messages to and from it are lost. */
  kill(id: string): void {
    const node = this.node(id);
    node.up = false;
    node.life++;
  }

  /**
   * A new process with the same id, knowing the other nodes (as from metadata); `port` moves
   * its addresses to `<id>:<port>` and `<id>:<port - 1000>`.
   */
  restart(id: string, port?: number): Gossip {
    const node = this.node(id);
    if (node.up) this.kill(id);
    node.handlers.clear();
    if (port !== undefined) this.ports.set(id, port);
    node.gossip = this.makeGossip(node, 'all');
    this.start(id);
    return node.gossip;
  }

  /** Timers and deliveries of `id` run no earlier than `untilMs` from now (an overloaded loop). */
  stall(id: string, forMs: number): void {
    this.node(id).stallUntil = this.now + forMs;
  }

  /** Splits the nodes into groups that cannot talk to each other; heal() undoes it. */
  partition(...groups: string[][]): void {
    this.group.clear();
    groups.forEach((g, i) => {
      for (const id of g) this.group.set(id, i);
    });
  }

  /** Drops every message from `from` to `to` (one direction). */
  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Drops all traffic to and from `id` while it keeps running. */
  isolate(id: string): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.block(id, other);
      this.block(other, id);
    }
  }

  /** Hands `payload` to `to`'s handler of `channel` now, as if `from` had sent it. */
  inject(to: string, from: string, channel: string, payload: unknown): void {
    const node = this.node(to);
    if (!node.up) return;
    node.handlers.get(channel)?.(from, this.packr.unpack(this.packr.pack(payload)));
  }

  /** Most member records seen in one message of `channel`, over the whole run. */
  maxRecords(channel: string): number {
    return this.recordsPerMessage.get(channel) ?? 0;
  }

  heal(): void {
    this.group.clear();
    this.blocked.clear();
  }

  view(observer: string, member: string): Liveness {
    return this.node(observer).gossip.liveness(member);
  }

  /** True when every running node other than `member` (or those given) sees it as `liveness`. */
  allSee(member: string, liveness: Liveness, observers = this.upIds()): boolean {
    return observers.every((o) => o === member || this.view(o, member) === liveness);
  }

  /** Every running node sees every running node alive. */
  converged(): boolean {
    const up = this.upIds();
    return up.every((o) => up.every((m) => this.view(o, m) === 'alive'));
  }

  /** Runs the world for `ms` of virtual time. */
  runFor(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /** Runs until `done()` holds (checked after every event); elapsed ms, or null past `maxMs`. */
  runUntil(done: () => boolean, maxMs: number): number | null {
    const start = this.now;
    const end = start + maxMs;
    if (done()) return 0;
    for (;;) {
      const ev = this.queue.peek();
      if (ev === undefined || ev.at > end) break;
      this.queue.pop();
      if (ev.cancelled) continue;
      this.now = ev.at;
      ev.run();
      if (done()) return this.now - start;
    }
    this.now = end;
    return null;
  }

  /** Liveness changes observed since `since`, optionally about one member and of one kind. */
  eventsSince(since: number, member?: string, liveness?: Liveness): LivenessEvent[] {
    return this.events.filter(
      (e) =>
        e.at >= since &&
        (member === undefined || e.member === member) &&
        (liveness === undefined || e.liveness === liveness),
    );
  }

  // ---------------------------------------------------------------------------------------------

  private node(id: string): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`harness: no node ${id}`);
    return node;
  }

  private makeGossip(node: SimNode, seedMode = this.opts.seeds ?? 'all'): Gossip {
    const seeds = this.ids
      .filter((id) => id !== node.id && (seedMode === 'all' || id === 'n1'))
      .map((id) => ({ id, peerAddress: this.peerAddress(id), httpAddress: this.httpAddress(id) }));
    const gossip = new Gossip(this.envFor(node), {
      peerAddress: this.peerAddress(node.id),
      httpAddress: this.httpAddress(node.id),
      seeds,
      timing: this.opts.timing,
      bugs: new Set(this.opts.bugs ?? []),
    });
    gossip.onLivenessChange((member, liveness) => {
      this.events.push({ at: this.now, observer: node.id, member, liveness });
    });
    return gossip;
  }

  peerAddress(id: string): string {
    return `${id}:${this.ports.get(id) ?? 9000}`;
  }

  httpAddress(id: string): string {
    return `${id}:${(this.ports.get(id) ?? 9000) - 1000}`;
  }

  private envFor(node: SimNode): ClusterEnv {
    const life = node.life;
    const rng = SimRandom.stream(this.opts.seed, `gossip-${node.id}-${life}`);
    const net: PeerNetwork = {
      send: (to, channel, payload) => this.transmit(node, life, to, channel, payload),
      request: () => Promise.reject(new Error('gossip harness: request is not used by gossip')),
      on: (channel, handler) => {
        if (node.life === life) node.handlers.set(channel, handler);
      },
      addPeer: (id, address) => {
        node.peers.set(id, address);
      },
      removePeer: (id) => {
        node.peers.delete(id);
      },
    };
    return {
      nodeId: node.id,
      net,
      vfs: new MemoryVfs(),
      now: () => SIM_EPOCH_MS + this.now,
      monotonic: () => this.now,
      random: () => rng.next(),
      setTimer: (delayMs: number, fn: () => void): TimerHandle => {
        const run = (): void => {
          if (!node.up || node.life !== life) return;
          // A stalled node runs its timers late, all at once, as a blocked event loop does.
          if (this.now < node.stallUntil) {
            this.queue.push(node.stallUntil, run);
            return;
          }
          fn();
        };
        const ev = this.queue.push(this.now + Math.max(0, delayMs), run);
        return {
          cancel: () => {
            ev.cancelled = true;
          },
        };
      },
    };
  }

  private cut(from: string, to: string): boolean {
    if (this.blocked.has(`${from}>${to}`)) return true;
    const a = this.group.get(from);
    const b = this.group.get(to);
    return a !== undefined && b !== undefined && a !== b;
  }

  private transmit(
    sender: SimNode,
    life: number,
    to: string,
    channel: string,
    payload: unknown,
  ): boolean {
    const receiver = this.nodes.get(to);
    if (receiver === undefined) return false;
    if (!sender.up || sender.life !== life) return true;
    sender.sent.set(channel, (sender.sent.get(channel) ?? 0) + 1);
    const records = recordCount(payload);
    if (records > (this.recordsPerMessage.get(channel) ?? 0)) {
      this.recordsPerMessage.set(channel, records);
    }
    if (this.cut(sender.id, to)) return true;
    if (this.loss > 0 && this.netRandom.chance(this.loss)) return true;
    const bytes = this.packr.pack(payload);
    const delay = this.minDelay + this.netRandom.next() * (this.maxDelay - this.minDelay);
    const deliver = (): void => {
      if (!receiver.up || this.cut(sender.id, to)) return;
      if (this.now < receiver.stallUntil) {
        this.queue.push(receiver.stallUntil, deliver);
        return;
      }
      receiver.handlers.get(channel)?.(sender.id, this.packr.unpack(bytes));
    };
    this.queue.push(this.now + delay, deliver);
    return true;
  }
}

/** Records a gossip payload carries (piggybacked updates or a full state). */
function recordCount(payload: unknown): number {
  if (typeof payload !== 'object' || payload === null) return 0;
  const p = payload as { u?: unknown; m?: unknown };
  const list = Array.isArray(p.u) ? p.u : Array.isArray(p.m) ? p.m : [];
  return list.length;
}

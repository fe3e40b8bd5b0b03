import type { ClusterEnv } from '../env/cluster-env.js';
import type { TimerHandle } from '../env/env.js';
import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './gossip-broadcasts.js';
import {
  decodeAck,
  decodeNack,
  decodePing,
  decodePingReq,
  decodeSync,
  decodeUpdates,
  encodeAck,
  encodeNack,
  encodePing,
  encodePingReq,
  encodeSync,
  encodeUpdates,
  GOSSIP_CHANNELS,
  type Liveness,
  type MemberRecord,
} from './gossip-messages.js';
import {
  checkMemberId,
  type GossipOptions,
  type ResolvedGossipOptions,
  resolveGossipOptions,
  retransmitLimit,
  suspicionBounds,
} from './gossip-options.js';
import { Suspicion } from './suspicion.js';

export type { Liveness } from './gossip-messages.js';
export type { GossipOptions } from './gossip-options.js';

/** One member as this node's gossip sees it (this node included). */
export interface MemberView {
  id: string;
  peerAddress: string;
  httpAddress: string;
  liveness: Liveness;
  incarnation: number;
  epoch: number;
}

export interface GossipStats {
  probes: number;
  probesFailed: number;
  indirectProbes: number;
  nacksReceived: number;
  relays: number;
  relaysRefused: number;
  suspicions: number;
  deaths: number;
  refutations: number;
  syncs: number;
  syncRepliesSkipped: number;
  lateProbeTicks: number;
  malformed: number;
  misdirectedPings: number;
  membersRefused: number;
  sendsDropped: number;
}

interface Member {
  readonly id: string;
  peerAddress: string;
  httpAddress: string;
  liveness: Liveness;
  incarnation: number;
  epoch: number;
  /** Who declared it suspect or dead; '' while alive. */
  from: string;
  /** Monotonic time of the last liveness change (gossip to the dead stops after a while). */
  changedAt: number;
  suspicion: Suspicion | null;
}

interface Probe {
  readonly seq: number;
  readonly target: string;
  acked: boolean;
  nacks: number;
  expectedNacks: number;
}

interface Relay {
  readonly requester: string;
  readonly requesterSeq: number;
  readonly timer: TimerHandle;
}

/** Share of an indirect probe's window a relay waits for the target before it sends a nack. */
const NACK_FRACTION = 0.8;
/** Members a node exchanges full state with when it starts. */
const START_SYNC_PEERS = 3;

/**
 * Failure detection and dissemination: SWIM with Lifeguard's refinements, over the PeerNetwork's
 * one-way messages on the 'gossip.*' channels, driven by Env timers and randomness only.
 *
 * Every probe interval the node pings the next member of a shuffled round-robin list; without
 * an ack within the probe timeout it asks `indirectChecks` other members to ping it (they nack
 * when the target stays silent, Lifeguard's proof that the relays themselves are reachable);
 * without any ack by the end of the interval the member becomes suspect. A suspicion expires
 * into dead after a timeout that shrinks as independent nodes confirm it, unless the suspected
 * node refutes it by raising its incarnation. Updates (liveness, incarnation, addresses,
 * metadata epoch) ride on every message, each sent about lambda * log(n) times; a periodic
 * full-state exchange repairs whatever dissemination missed, including with a dead member so
 * that a healed partition merges again. Local health (Awareness) stretches the probe timing
 * when this node is the slow one.
 *
 * Gossip decides liveness only: it never changes ownership or the member list of the ring.
 */
export class Gossip {
  readonly stats: GossipStats = {
    probes: 0,
    probesFailed: 0,
    indirectProbes: 0,
    nacksReceived: 0,
    relays: 0,
    relaysRefused: 0,
    suspicions: 0,
    deaths: 0,
    refutations: 0,
    syncs: 0,
    syncRepliesSkipped: 0,
    lateProbeTicks: 0,
    malformed: 0,
    misdirectedPings: 0,
    membersRefused: 0,
    sendsDropped: 0,
  };
  private readonly opts: ResolvedGossipOptions;
  private readonly selfId: string;
  private readonly memberTable = new Map<string, Member>();
  private incarnation = 0;
  private epoch: number;
  private readonly broadcasts: BroadcastQueue;
  private readonly awareness: Awareness;
  /** Removed members, oldest first (a Set keeps insertion order), bounded by maxTombstones. */
  private readonly tombstones = new Set<string>();
  private probeOrder: string[] = [];
  private probeIndex = 0;
  private probe: Probe | null = null;
  private readonly relays = new Map<number, Relay>();
  /** When each peer's full-state request was last answered (bounded by maxMembers). */
  private readonly syncRepliedAt = new Map<string, number>();
  private nextSeq = 1;
  private probeTimer: TimerHandle | null = null;
  private probeTimeoutTimer: TimerHandle | null = null;
  private gossipTimer: TimerHandle | null = null;
  private syncTimer: TimerHandle | null = null;
  /** When the next probe tick is due (monotonic); a much later tick means we are overloaded. */
  private probeDueAt = 0;
  private running = false;
  private handlersInstalled = false;
  private readonly livenessListeners: ((id: string, liveness: Liveness) => void)[] = [];
  private readonly epochListeners: ((id: string, epoch: number) => void)[] = [];

  constructor(
    private readonly env: ClusterEnv,
    options: GossipOptions,
  ) {
    this.opts = resolveGossipOptions(options);
    checkMemberId(env.nodeId);
    this.selfId = env.nodeId;
    this.epoch = this.opts.epoch;
    this.broadcasts = new BroadcastQueue(this.opts.limits.maxMembers);
    this.awareness = new Awareness(this.opts.timing.awarenessMax);
    for (const seed of this.opts.seeds) this.addMember(seed.id, seed.peerAddress, seed.httpAddress);
  }

  // --- public API ------------------------------------------------------------------------------

  start(): void {
    assert(!this.running, 'Gossip.start: already running');
    this.running = true;
    this.installHandlers();
    const t = this.opts.timing;
    // After a stop(), suspicions start over: their timers did not run while we were stopped.
    for (const m of this.memberTable.values()) {
      if (m.liveness === 'suspect' && m.suspicion === null) this.armSuspicion(m, m.from);
    }
    // Say hello with our state to a few known members: this is how a (re)started node learns
    // the cluster and, if it was declared dead, refutes that with a higher incarnation.
    const known = [...this.memberTable.values()];
    for (const m of this.sample(known, START_SYNC_PEERS)) this.sendSync(m.id, true);
    // Random phases keep the nodes' probe and gossip rounds from marching in step.
    const firstProbe = Math.floor(this.env.random() * t.probeIntervalMs);
    this.probeDueAt = this.env.monotonic() + firstProbe;
    this.probeTimer = this.env.setTimer(firstProbe, () => this.probeTick());
    this.gossipTimer = this.env.setTimer(Math.floor(this.env.random() * t.gossipIntervalMs), () =>
      this.gossipTick(),
    );
    this.syncTimer = this.env.setTimer(this.syncDelay(), () => this.syncTick());
  }

  /**
   * A clean shutdown: tells every member not known dead, directly, that this node is down (a
   * dead record about itself, which peers accept at its own incarnation), then stops. Peers
   * stop waiting on it at once instead of after the detection time; a restart refutes it.
   */
  leave(): void {
    if (!this.running) return;
    const self = this.selfRecord();
    const goodbye = encodeUpdates({
      updates: [{ ...self, liveness: 'dead', from: this.selfId }],
    });
    for (const m of this.memberTable.values()) {
      if (m.liveness !== 'dead') this.send(m.id, GOSSIP_CHANNELS.updates, goodbye);
    }
    this.stop();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const timer of [
      this.probeTimer,
      this.probeTimeoutTimer,
      this.gossipTimer,
      this.syncTimer,
    ]) {
      timer?.cancel();
    }
    this.probeTimer = this.probeTimeoutTimer = this.gossipTimer = this.syncTimer = null;
    this.probe = null;
    for (const relay of this.relays.values()) relay.timer.cancel();
    this.relays.clear();
    for (const m of this.memberTable.values()) {
      m.suspicion?.cancel();
      m.suspicion = null;
    }
  }

  /** Every member including this node, sorted by id. */
  members(): MemberView[] {
    const out: MemberView[] = [this.viewOf(this.selfRecord())];
    for (const m of this.memberTable.values()) out.push(this.viewOf(m));
    out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }

  /** 'dead' for a member gossip does not know. */
  liveness(id: string): Liveness {
    if (id === this.selfId) return 'alive';
    return this.memberTable.get(id)?.liveness ?? 'dead';
  }

  /** True only for 'alive': a suspect member is treated as possibly down. */
  isAlive(id: string): boolean {
    return this.liveness(id) === 'alive';
  }

  /** This node's incarnation (raised by each refutation). */
  get localIncarnation(): number {
    return this.incarnation;
  }

  /** Lifeguard's local health score, 0 (healthy) to awarenessMax - 1. */
  get localHealth(): number {
    return this.awareness.score;
  }

  /** The local metadata epoch; peers see it through gossip. Epochs never go back. */
  setLocalEpoch(epoch: number): void {
    assert(Number.isSafeInteger(epoch) && epoch >= 0, 'Gossip.setLocalEpoch: bad epoch');
    assert(epoch >= this.epoch, 'Gossip.setLocalEpoch: epochs never go back');
    if (epoch === this.epoch) return;
    this.epoch = epoch;
    this.broadcasts.enqueue(this.selfRecord());
  }

  onLivenessChange(listener: (id: string, liveness: Liveness) => void): void {
    this.livenessListeners.push(listener);
  }

  /** Called when a peer reports an epoch above the local one (the caller then catches up). */
  onEpochSeen(listener: (id: string, epoch: number) => void): void {
    this.epochListeners.push(listener);
  }

  /** A member from metadata (a new node) or configuration; starts alive at incarnation 0. */
  addMember(id: string, peerAddress: string, httpAddress: string): void {
    checkMemberId(id);
    if (id === this.selfId) return;
    this.tombstones.delete(id);
    const existing = this.memberTable.get(id);
    if (existing !== undefined) {
      // Metadata's addresses are committed and only move forward (a restarted node records
      // its new ones): take them. Gossip corrects a lagging copy at the next incarnation.
      if (peerAddress !== '' && peerAddress !== existing.peerAddress) {
        existing.peerAddress = peerAddress;
        this.env.net.addPeer(id, peerAddress);
      }
      if (httpAddress !== '') existing.httpAddress = httpAddress;
      return;
    }
    if (this.memberTable.size + 1 >= this.opts.limits.maxMembers) {
      throw new CountError(
        'conflict',
        `gossip tracks at most ${this.opts.limits.maxMembers} members; cannot add ${id}`,
        { field: 'id' },
      );
    }
    const m = this.insertMember({
      id,
      incarnation: 0,
      liveness: 'alive',
      epoch: 0,
      peerAddress,
      httpAddress,
      from: '',
    });
    this.broadcasts.enqueue(this.recordOf(m));
  }

  /** A member that left the cluster: forgotten, and stale gossip about it is ignored. */
  removeMember(id: string): void {
    if (id === this.selfId) return;
    this.tombstones.delete(id);
    this.tombstones.add(id);
    if (this.tombstones.size > this.opts.limits.maxTombstones) {
      const oldest = this.tombstones.values().next().value as string;
      this.tombstones.delete(oldest);
    }
    const m = this.memberTable.get(id);
    if (m === undefined) return;
    m.suspicion?.cancel();
    this.memberTable.delete(id);
    this.broadcasts.remove(id);
    if (m.liveness !== 'dead') this.emitLiveness(id, 'dead');
  }

  // --- probing ---------------------------------------------------------------------------------

  private probeTick(): void {
    if (!this.running) return;
    const t = this.opts.timing;
    const now = this.env.monotonic();
    if (this.probe !== null) this.concludeProbe(this.probe);
    this.probe = null;
    // A tick a whole interval late means our event loop is starved: we are the slow one.
    if (now - this.probeDueAt > t.probeIntervalMs) {
      this.stats.lateProbeTicks++;
      this.awareness.apply(1);
    }
    const interval = this.awareness.scale(t.probeIntervalMs);
    const target = this.nextProbeTarget();
    if (target !== null) this.startProbe(target, interval);
    this.probeDueAt = now + interval;
    this.probeTimer = this.env.setTimer(interval, () => this.probeTick());
  }

  private startProbe(target: Member, intervalMs: number): void {
    const probe: Probe = {
      seq: this.nextSeq++,
      target: target.id,
      acked: false,
      nacks: 0,
      expectedNacks: 0,
    };
    this.probe = probe;
    this.stats.probes++;
    this.send(
      target.id,
      GOSSIP_CHANNELS.ping,
      encodePing({ seq: probe.seq, target: target.id, updates: this.piggyback(target) }),
    );
    const timeout = this.awareness.scale(this.opts.timing.probeTimeoutMs);
    this.probeTimeoutTimer?.cancel();
    this.probeTimeoutTimer = this.env.setTimer(timeout, () =>
      this.indirectProbe(probe, intervalMs - timeout),
    );
  }

  private indirectProbe(probe: Probe, windowMs: number): void {
    this.probeTimeoutTimer = null;
    if (!this.running || this.probe !== probe || probe.acked) return;
    const relays = this.sample(
      [...this.memberTable.values()].filter((m) => m.liveness === 'alive' && m.id !== probe.target),
      this.opts.timing.indirectChecks,
    );
    for (const relay of relays) {
      const sent = this.send(
        relay.id,
        GOSSIP_CHANNELS.pingReq,
        encodePingReq({
          seq: probe.seq,
          target: probe.target,
          windowMs: Math.floor(windowMs),
          updates: this.piggyback(null),
        }),
      );
      if (sent) probe.expectedNacks++;
    }
    this.stats.indirectProbes += relays.length;
  }

  /** End of a probe's interval: success lowers the health score, failure suspects the target. */
  private concludeProbe(probe: Probe): void {
    this.probeTimeoutTimer?.cancel();
    this.probeTimeoutTimer = null;
    if (probe.acked) {
      this.awareness.apply(-1);
      return;
    }
    this.stats.probesFailed++;
    // Relays that did not even nack point at us (Lifeguard); with no relays, any failure counts.
    const missing =
      probe.expectedNacks > 0
        ? probe.expectedNacks - Math.min(probe.nacks, probe.expectedNacks)
        : 1;
    if (missing > 0) this.awareness.apply(missing);
    const m = this.memberTable.get(probe.target);
    if (m === undefined || m.liveness === 'dead') return;
    if (this.suspectMember(m, m.incarnation, this.selfId)) {
      this.broadcasts.enqueue(this.recordOf(m));
    }
  }

  private nextProbeTarget(): Member | null {
    for (let pass = 0; pass < 2; pass++) {
      while (this.probeIndex < this.probeOrder.length) {
        const m = this.memberTable.get(this.probeOrder[this.probeIndex++]);
        if (m !== undefined && m.liveness !== 'dead') return m;
      }
      const live = [...this.memberTable.values()].filter((m) => m.liveness !== 'dead');
      this.probeOrder = this.sample(live, live.length).map((m) => m.id);
      this.probeIndex = 0;
      if (this.probeOrder.length === 0) return null;
    }
    return null;
  }

  // --- dissemination ---------------------------------------------------------------------------

  private gossipTick(): void {
    if (!this.running) return;
    const t = this.opts.timing;
    this.gossipTimer = this.env.setTimer(t.gossipIntervalMs, () => this.gossipTick());
    if (this.broadcasts.size === 0) return;
    const now = this.env.monotonic();
    const targets = [...this.memberTable.values()].filter(
      (m) => m.liveness !== 'dead' || now - m.changedAt < t.gossipToTheDeadMs,
    );
    for (const m of this.sample(targets, t.gossipFanout)) {
      const updates = this.piggyback(null);
      if (updates.length === 0) break;
      this.send(m.id, GOSSIP_CHANNELS.updates, encodeUpdates({ updates }));
    }
  }

  private syncTick(): void {
    if (!this.running) return;
    this.syncTimer = this.env.setTimer(this.syncDelay(), () => this.syncTick());
    const all = [...this.memberTable.values()];
    const live = all.filter((m) => m.liveness !== 'dead');
    const dead = all.filter((m) => m.liveness === 'dead');
    for (const m of this.sample(live, 1)) this.sendSync(m.id, true);
    // Nobody probes a dead member; this exchange is how two sides of a healed partition meet.
    for (const m of this.sample(dead, 1)) this.sendSync(m.id, true);
  }

  private syncDelay(): number {
    const base = this.opts.timing.syncIntervalMs;
    return Math.floor(base * (0.75 + this.env.random() * 0.5));
  }

  private sendSync(to: string, reply: boolean): void {
    const members = [this.selfRecord()];
    for (const m of this.memberTable.values()) members.push(this.recordOf(m));
    this.send(to, GOSSIP_CHANNELS.sync, encodeSync({ reply, members }));
  }

  /** Pending updates for one message; a suspect target first hears that it is suspected. */
  private piggyback(target: Member | null): MemberRecord[] {
    const { maxPiggyback } = this.opts.limits;
    const limit = retransmitLimit(this.opts.timing.retransmitMult, this.memberTable.size + 1);
    if (target !== null && target.liveness === 'suspect') {
      const own = this.recordOf(target);
      return [own, ...this.broadcasts.take(maxPiggyback - 1, limit).filter((r) => r.id !== own.id)];
    }
    return this.broadcasts.take(maxPiggyback, limit);
  }

  // --- message handlers ------------------------------------------------------------------------

  private installHandlers(): void {
    if (this.handlersInstalled) return;
    this.handlersInstalled = true;
    const net = this.env.net;
    const handlers: [string, (from: string, payload: unknown) => void][] = [
      [GOSSIP_CHANNELS.ping, (f, p) => this.onPing(f, p)],
      [GOSSIP_CHANNELS.ack, (f, p) => this.onAck(f, p)],
      [GOSSIP_CHANNELS.nack, (f, p) => this.onNack(f, p)],
      [GOSSIP_CHANNELS.pingReq, (f, p) => this.onPingReq(f, p)],
      [GOSSIP_CHANNELS.updates, (f, p) => this.onUpdates(f, p)],
      [GOSSIP_CHANNELS.sync, (f, p) => this.onSync(f, p)],
    ];
    for (const [channel, handle] of handlers) {
      // A stopped node ignores gossip (the network keeps the handlers).
      net.on(channel, (from, payload) => {
        if (this.running) handle(from, payload);
      });
    }
  }

  private onPing(from: string, payload: unknown): void {
    const msg = decodePing(payload, this.opts.limits.maxMembers);
    if (msg === null) {
      this.stats.malformed++;
      return;
    }
    this.mergeAll(from, msg.updates, false);
    // A ping meant for whoever had our address before must not make that node look alive.
    if (msg.target !== this.selfId) {
      this.stats.misdirectedPings++;
      return;
    }
    const sender = this.memberTable.get(from) ?? null;
    this.send(
      from,
      GOSSIP_CHANNELS.ack,
      encodeAck({ seq: msg.seq, updates: this.piggyback(sender) }),
    );
  }

  private onAck(from: string, payload: unknown): void {
    const msg = decodeAck(payload, this.opts.limits.maxMembers);
    if (msg === null) {
      this.stats.malformed++;
      return;
    }
    this.mergeAll(from, msg.updates, false);
    const probe = this.probe;
    if (probe !== null && probe.seq === msg.seq) {
      probe.acked = true;
      return;
    }
    const relay = this.relays.get(msg.seq);
    if (relay !== undefined) {
      relay.timer.cancel();
      this.relays.delete(msg.seq);
      this.send(
        relay.requester,
        GOSSIP_CHANNELS.ack,
        encodeAck({ seq: relay.requesterSeq, updates: this.piggyback(null) }),
      );
    }
  }

  private onNack(_from: string, payload: unknown): void {
    const msg = decodeNack(payload);
    if (msg === null) {
      this.stats.malformed++;
      return;
    }
    const probe = this.probe;
    if (probe !== null && probe.seq === msg.seq && !probe.acked) {
      probe.nacks++;
      this.stats.nacksReceived++;
    }
  }

  private onPingReq(from: string, payload: unknown): void {
    const msg = decodePingReq(payload, this.opts.limits.maxMembers);
    if (msg === null) {
      this.stats.malformed++;
      return;
    }
    this.mergeAll(from, msg.updates, false);
    if (msg.target === this.selfId) {
      // Asked to probe ourselves: we are evidently alive, say so directly.
      this.send(from, GOSSIP_CHANNELS.ack, encodeAck({ seq: msg.seq, updates: [] }));
      return;
    }
    const target = this.memberTable.get(msg.target);
    if (target === undefined || this.relays.size >= this.opts.limits.maxPendingRelays) {
      this.stats.relaysRefused++;
      return;
    }
    this.stats.relays++;
    const seq = this.nextSeq++;
    // The relay's own wait is capped, so a peer cannot make us hold relays open for long.
    const cap = this.opts.timing.probeIntervalMs * this.opts.timing.awarenessMax;
    const wait = Math.floor(Math.min(msg.windowMs, cap) * NACK_FRACTION);
    const timer = this.env.setTimer(wait, () => {
      if (this.relays.get(seq)?.timer !== timer) return;
      this.relays.delete(seq);
      if (this.running) this.send(from, GOSSIP_CHANNELS.nack, encodeNack({ seq: msg.seq }));
    });
    this.relays.set(seq, { requester: from, requesterSeq: msg.seq, timer });
    this.send(
      target.id,
      GOSSIP_CHANNELS.ping,
      encodePing({ seq, target: target.id, updates: this.piggyback(target) }),
    );
  }

  private onUpdates(from: string, payload: unknown): void {
    const msg = decodeUpdates(payload, this.opts.limits.maxMembers);
    if (msg === null) {
      this.stats.malformed++;
      return;
    }
    this.mergeAll(from, msg.updates, false);
  }

  private onSync(from: string, payload: unknown): void {
    const msg = decodeSync(payload, this.opts.limits.maxMembers);
    if (msg === null) {
      this.stats.malformed++;
      return;
    }
    this.stats.syncs++;
    this.mergeAll(from, msg.members, true);
    if (!msg.reply) return;
    // A transport flushing requests queued while we were away delivers a burst: answer one.
    const now = this.env.monotonic();
    const last = this.syncRepliedAt.get(from);
    if (last !== undefined && now - last < this.opts.timing.probeIntervalMs) {
      this.stats.syncRepliesSkipped++;
      return;
    }
    if (this.syncRepliedAt.size >= this.opts.limits.maxMembers) this.syncRepliedAt.clear();
    this.syncRepliedAt.set(from, now);
    this.sendSync(from, false);
  }

  // --- merging what peers say ------------------------------------------------------------------

  private mergeAll(sender: string, records: readonly MemberRecord[], fullState: boolean): void {
    for (const r of records) this.merge(sender, r, fullState);
  }

  /**
   * SWIM's precedence rules: alive(i) beats suspect/dead(j) only when i > j; suspect(i) beats
   * alive(j) when i >= j; dead(i) beats alive/suspect(j) when i >= j. A full-state exchange only
   * suspects what the peer calls dead (its view may be old). Epochs merge by max, independently.
   */
  private merge(sender: string, r: MemberRecord, fullState: boolean): void {
    if (r.id === this.selfId) {
      this.mergeAboutSelf(sender, r);
      return;
    }
    const m = this.memberTable.get(r.id);
    if (m === undefined) {
      this.learn(r);
      return;
    }
    let news = false;
    if (r.epoch > m.epoch) {
      m.epoch = r.epoch;
      news = true;
      if (r.epoch > this.epoch) for (const l of this.epochListeners) l(m.id, r.epoch);
    }
    switch (r.liveness) {
      case 'alive':
        if (
          r.incarnation > m.incarnation ||
          (this.opts.bugs.has('accept-stale-alive') &&
            r.incarnation === m.incarnation &&
            m.liveness !== 'alive')
        ) {
          this.applyAlive(m, r);
          news = true;
        }
        break;
      case 'suspect':
        news = this.suspectMember(m, r.incarnation, r.from === '' ? sender : r.from) || news;
        break;
      case 'dead':
        news = fullState
          ? this.suspectMember(m, r.incarnation, sender) || news
          : this.markDead(m, r.incarnation, r.from === '' ? sender : r.from) || news;
        break;
    }
    if (news) this.broadcasts.enqueue(this.recordOf(m));
  }

  private mergeAboutSelf(sender: string, r: MemberRecord): void {
    if (r.liveness === 'alive') {
      // An older life of ours (before a restart) may carry a higher incarnation or other
      // addresses: outbid it so our current record wins everywhere.
      const differs =
        r.peerAddress !== this.opts.peerAddress || r.httpAddress !== this.opts.httpAddress;
      if (r.incarnation > this.incarnation || (r.incarnation === this.incarnation && differs)) {
        this.refute(r.incarnation);
      }
      return;
    }
    if (r.incarnation < this.incarnation) {
      // The sender missed our last refutation (dissemination is probabilistic): tell it
      // directly, once per stale rumour it passes on, which bounds these replies.
      this.send(sender, GOSSIP_CHANNELS.updates, encodeUpdates({ updates: [this.selfRecord()] }));
      return;
    }
    // Being suspected is also a hint that we are the slow one (Lifeguard).
    this.awareness.apply(1);
    this.refute(r.incarnation);
  }

  private refute(incarnation: number): void {
    const bumped = this.opts.bugs.has('refute-same-incarnation')
      ? Math.max(this.incarnation, incarnation)
      : Math.max(this.incarnation, incarnation) + 1;
    this.incarnation = bumped;
    this.stats.refutations++;
    this.broadcasts.enqueue(this.selfRecord());
  }

  /** A member we did not know: learnt only from a sign of life, never from a rumour of death. */
  private learn(r: MemberRecord): void {
    if (r.liveness !== 'alive' || this.tombstones.has(r.id)) return;
    if (this.memberTable.size + 1 >= this.opts.limits.maxMembers) {
      this.stats.membersRefused++;
      return;
    }
    const m = this.insertMember(r);
    this.broadcasts.enqueue(this.recordOf(m));
    if (r.epoch > this.epoch) for (const l of this.epochListeners) l(m.id, r.epoch);
  }

  private insertMember(r: MemberRecord): Member {
    const m: Member = {
      id: r.id,
      peerAddress: r.peerAddress,
      httpAddress: r.httpAddress,
      liveness: 'alive',
      incarnation: r.incarnation,
      epoch: r.epoch,
      from: '',
      changedAt: this.env.monotonic(),
      suspicion: null,
    };
    this.memberTable.set(m.id, m);
    if (m.peerAddress !== '') this.env.net.addPeer(m.id, m.peerAddress);
    // A random place in the rest of this round, so a new member is probed soon but not first.
    const at =
      this.probeIndex +
      Math.floor(this.env.random() * (this.probeOrder.length - this.probeIndex + 1));
    this.probeOrder.splice(at, 0, m.id);
    this.emitLiveness(m.id, 'alive');
    return m;
  }

  private applyAlive(m: Member, r: MemberRecord): void {
    m.incarnation = r.incarnation;
    m.from = '';
    if (r.peerAddress !== '' && r.peerAddress !== m.peerAddress) {
      m.peerAddress = r.peerAddress;
      this.env.net.addPeer(m.id, r.peerAddress);
    }
    if (r.httpAddress !== '') m.httpAddress = r.httpAddress;
    if (m.liveness !== 'alive') {
      m.suspicion?.cancel();
      m.suspicion = null;
      this.setLiveness(m, 'alive');
    }
  }

  /** Starts or confirms a suspicion; true when it is news worth passing on. */
  private suspectMember(m: Member, incarnation: number, from: string): boolean {
    if (m.liveness === 'dead' || incarnation < m.incarnation) return false;
    if (m.liveness === 'suspect') {
      assert(m.suspicion !== null, 'Gossip: a suspect member has a suspicion timer');
      if (incarnation === m.incarnation) {
        const confirmed = m.suspicion.confirm(from);
        if (confirmed) m.from = from;
        return confirmed;
      }
      // A suspicion of a newer incarnation is a new suspicion: the old timer must not kill it.
      m.suspicion.cancel();
      m.suspicion = null;
    }
    m.incarnation = incarnation;
    m.from = from;
    this.armSuspicion(m, from);
    this.stats.suspicions++;
    if (m.liveness !== 'suspect') this.setLiveness(m, 'suspect');
    return true;
  }

  /** The timer that turns a suspicion of `m`'s current incarnation into death. */
  private armSuspicion(m: Member, from: string): void {
    const bounds = suspicionBounds(this.opts.timing, this.liveCount());
    const suspicion: Suspicion = new Suspicion(
      this.env,
      from,
      bounds.expected,
      bounds.minMs,
      bounds.maxMs,
      () => {
        if (!this.running || m.suspicion !== suspicion || this.memberTable.get(m.id) !== m) return;
        if (this.markDead(m, m.incarnation, this.selfId)) {
          this.broadcasts.enqueue(this.recordOf(m));
        }
      },
    );
    m.suspicion = suspicion;
  }

  private markDead(m: Member, incarnation: number, from: string): boolean {
    if (m.liveness === 'dead' || incarnation < m.incarnation) return false;
    m.suspicion?.cancel();
    m.suspicion = null;
    m.incarnation = incarnation;
    m.from = from;
    this.stats.deaths++;
    this.setLiveness(m, 'dead');
    return true;
  }

  // --- small pieces ----------------------------------------------------------------------------

  private setLiveness(m: Member, liveness: Liveness): void {
    assert(m.liveness !== liveness, 'Gossip.setLiveness: not a change');
    m.liveness = liveness;
    m.changedAt = this.env.monotonic();
    this.emitLiveness(m.id, liveness);
  }

  private emitLiveness(id: string, liveness: Liveness): void {
    for (const l of this.livenessListeners) l(id, liveness);
  }

  /** Members not known dead, this node included: the n of the timing formulas. */
  private liveCount(): number {
    let n = 1;
    for (const m of this.memberTable.values()) if (m.liveness !== 'dead') n++;
    return n;
  }

  private send(to: string, channel: string, payload: unknown): boolean {
    const ok = this.env.net.send(to, channel, payload);
    if (!ok) this.stats.sendsDropped++;
    return ok;
  }

  /** Up to `k` distinct items in random order (partial Fisher-Yates on a copy). */
  private sample<T>(items: readonly T[], k: number): T[] {
    const copy = items.slice();
    const n = Math.min(k, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.env.random() * (copy.length - i));
      const t = copy[i];
      copy[i] = copy[j];
      copy[j] = t;
    }
    copy.length = n;
    return copy;
  }

  private selfRecord(): MemberRecord {
    return {
      id: this.selfId,
      incarnation: this.incarnation,
      liveness: 'alive',
      epoch: this.epoch,
      peerAddress: this.opts.peerAddress,
      httpAddress: this.opts.httpAddress,
      from: '',
    };
  }

  private recordOf(m: Member): MemberRecord {
    return {
      id: m.id,
      incarnation: m.incarnation,
      liveness: m.liveness,
      epoch: m.epoch,
      peerAddress: m.peerAddress,
      httpAddress: m.httpAddress,
      from: m.from,
    };
  }

  private viewOf(r: MemberRecord | Member): MemberView {
    return {
      id: r.id,
      peerAddress: r.peerAddress,
      httpAddress: r.httpAddress,
      liveness: r.liveness,
      incarnation: r.incarnation,
      epoch: r.epoch,
    };
  }
}

import { Packr } from 'msgpackr';
import type { PeerNetwork } from '../src/env/cluster-env.js';
import type { Env } from '../src/env/env.js';
import { CountError, type ErrorCode } from '../src/model/errors.js';
import { PeerError } from '../src/net/peer-transport.js';
import type { SimNetwork } from './network.js';

/**
 * PeerNetwork for the cluster simulation, on top of SimNetwork's delivery (delay, loss,
 * duplication, reordering, partitions, down nodes). A request is a packet to the receiver and a
 * reply packet back; either may be lost, so the caller's deadline (a timer of the caller's
 * SimEnv, hence virtual time) decides. Payloads cross as msgpack, as with the ws transport: a
 * receiver never shares an object with the sender, and a duplicated packet is two copies. A
 * handler's CountError reaches the caller with its code and details; anything else is a
 * PeerError 'remote'.
 */
export interface PeerPacket {
  readonly from: string;
  readonly to: string;
  readonly kind: 'send' | 'req' | 'resp';
  readonly channel: string;
  /** Request id (req and resp), unique per hub. */
  readonly id: number;
  readonly body: Uint8Array;
  /** On a resp: the handler failed. */
  readonly error?: { code: string; message: string; count: boolean; details?: unknown };
}

/** Bound on one endpoint's requests awaiting an answer. */
const MAX_PENDING_REQUESTS = 10_000;

type Handler = (from: string, payload: unknown) => unknown;

/** Called before a packet leaves a node (the crash-on-send traps hook in here). */
export type SendObserver = (from: string, channel: string, payload: unknown) => void;

export function describePeerPacket(p: PeerPacket): string {
  const tag = p.kind === 'send' ? '' : `#${p.id}`;
  return `${p.from}>${p.to} ${p.kind} ${p.channel}${tag}${p.error ? ` !${p.error.code}` : ''}`;
}

export class SimPeerHub {
  private readonly packr = new Packr({ useRecords: false });
  private readonly endpoints = new Map<string, SimPeerEndpoint>();
  private nextId = 1;
  onSend: SendObserver | null = null;

  constructor(readonly network: SimNetwork<PeerPacket>) {}

  /** A new incarnation's network: it receives packets until `close()` (the process died). */
  connect(nodeId: string, env: Env): SimPeerEndpoint {
    this.endpoints.get(nodeId)?.close();
    const ep = new SimPeerEndpoint(this, nodeId, env);
    this.endpoints.set(nodeId, ep);
    this.network.attach(nodeId, (p) => ep.receive(p));
    return ep;
  }

  disconnect(ep: SimPeerEndpoint): void {
    if (this.endpoints.get(ep.nodeId) !== ep) return;
    this.endpoints.delete(ep.nodeId);
    this.network.detach(ep.nodeId);
  }

  encode(payload: unknown): Uint8Array {
    return this.packr.pack(payload ?? null);
  }

  decode(body: Uint8Array): unknown {
    return this.packr.unpack(body);
  }

  requestId(): number {
    return this.nextId++;
  }
}

export class SimPeerEndpoint implements PeerNetwork {
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; cancel: () => void }
  >();
  /** Peers added under another name (a seed's placeholder id) -> the node listening there. */
  private readonly book = new Map<string, string>();
  private open = true;

  constructor(
    private readonly hub: SimPeerHub,
    readonly nodeId: string,
    private readonly env: Env,
  ) {}

  send(to: string, channel: string, payload: unknown): boolean {
    const dst = this.open ? this.resolve(to) : null;
    if (dst === null) return false;
    this.hub.onSend?.(this.nodeId, channel, payload);
    this.emit({
      from: this.nodeId,
      to: dst,
      kind: 'send',
      channel,
      id: 0,
      body: this.encode(payload),
    });
    return true;
  }

  request(to: string, channel: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    if (!this.open) return Promise.reject(new PeerError('closed', 'node stopped'));
    const dst = this.resolve(to);
    if (dst === null) return Promise.reject(new PeerError('unreachable', `unknown peer ${to}`));
    if (this.pending.size >= MAX_PENDING_REQUESTS) {
      return Promise.reject(new PeerError('overloaded', `too many requests in flight to peers`));
    }
    const id = this.hub.requestId();
    return new Promise((resolve, reject) => {
      const timer = this.env.setTimer(timeoutMs, () => {
        if (!this.pending.delete(id)) return;
        reject(new PeerError('timeout', `request to ${to} on ${channel} timed out`));
      });
      this.pending.set(id, { resolve, reject, cancel: () => timer.cancel() });
      this.hub.onSend?.(this.nodeId, channel, payload);
      this.emit({
        from: this.nodeId,
        to: dst,
        kind: 'req',
        channel,
        id,
        body: this.encode(payload),
      });
    });
  }

  on(channel: string, handler: Handler): void {
    this.handlers.set(channel, handler);
  }

  /** Nodes listen at "<id>:<port>" in the simulation, so an address names its node. */
  addPeer(id: string, address: string): void {
    const node = address.slice(0, address.lastIndexOf(':'));
    if (id !== node && this.hub.network.nodes.includes(node)) this.book.set(id, node);
  }

  removePeer(id: string): void {
    this.book.delete(id);
  }

  /** The process died: nothing more goes out, nothing more comes in, no answer is awaited. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const p of this.pending.values()) p.cancel();
    this.pending.clear();
    this.hub.disconnect(this);
  }

  receive(p: PeerPacket): void {
    if (!this.open) return;
    if (p.kind === 'resp') {
      const waiter = this.pending.get(p.id);
      // A late, duplicated or foreign answer: the request already settled.
      if (waiter === undefined) return;
      this.pending.delete(p.id);
      waiter.cancel();
      if (p.error === undefined) waiter.resolve(this.hub.decode(p.body));
      else if (p.error.count) {
        waiter.reject(
          new CountError(p.error.code as ErrorCode, p.error.message, {
            details: p.error.details as Record<string, unknown> | undefined,
          }),
        );
      } else waiter.reject(new PeerError('remote', p.error.message));
      return;
    }
    const handler = this.handlers.get(p.channel);
    const payload = this.hub.decode(p.body);
    if (p.kind === 'send') {
      try {
        const r = handler?.(p.from, payload);
        if (r instanceof Promise) r.catch(() => {});
      } catch {
        // One-way message: nobody to tell.
      }
      return;
    }
    Promise.resolve()
      .then(() => {
        if (handler === undefined) throw new Error(`no handler for channel ${p.channel}`);
        return handler(p.from, payload);
      })
      .then(
        (value) => this.reply(p, this.encode(value), undefined),
        (e: unknown) => {
          const error =
            e instanceof CountError
              ? { code: e.code, message: e.message, count: true, details: e.details }
              : {
                  code: 'remote',
                  message: e instanceof Error ? e.message : String(e),
                  count: false,
                };
          this.reply(p, this.encode(null), error);
        },
      );
  }

  private reply(p: PeerPacket, body: Uint8Array, error: PeerPacket['error']): void {
    // An incarnation that died while handling never answers.
    if (!this.open) return;
    this.emit({
      from: this.nodeId,
      to: p.from,
      kind: 'resp',
      channel: p.channel,
      id: p.id,
      body,
      ...(error === undefined ? {} : { error }),
    });
  }

  /** The node a peer id reaches, or null when unknown. */
  private resolve(to: string): string | null {
    if (this.hub.network.nodes.includes(to)) return to;
    return this.book.get(to) ?? null;
  }

  private emit(p: PeerPacket): void {
    this.hub.network.send(p);
  }

  private encode(payload: unknown): Uint8Array {
    return this.hub.encode(payload);
  }
}

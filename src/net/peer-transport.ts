import { Packr } from 'msgpackr';
import { WebSocket, WebSocketServer } from 'ws';
import { CountError, ERROR_CODES, type ErrorCode } from '../model/errors.js';

/**
 * The peer transport: one WebSocket per peer pair carrying msgpackr frames, for Raft, gossip and
 * data messages alike. Fire-and-forget messages (`send`) and requests with an id and a deadline
 * (`request`). The node with the smaller id dials, the other accepts, so a pair shares one
 * connection; the dialer reconnects with jittered exponential backoff. Every queue is bounded:
 * frames waiting for a connection (oldest dropped first), bytes buffered in the socket, and
 * pending requests.
 */
export type PeerId = string;

export type PeerErrorCode = 'timeout' | 'unreachable' | 'remote' | 'overloaded' | 'closed';

export class PeerError extends Error {
  readonly code: PeerErrorCode;
  constructor(code: PeerErrorCode, message: string) {
    super(message);
    this.name = 'PeerError';
    this.code = code;
  }
}

export type Handler = (from: PeerId, payload: unknown) => unknown;

export interface PeerTransportOptions {
  readonly nodeId: PeerId;
  readonly host: string;
  /** 0 picks a free port (see `port`). */
  readonly port: number;
  /** Peers and their "host:port" addresses. */
  readonly peers?: Readonly<Record<PeerId, string>>;
  /** Frames kept per peer while it is not connected. */
  readonly maxQueuedFrames?: number;
  /** Past this many bytes buffered in a socket, new frames to that peer are dropped. */
  readonly maxBufferedBytes?: number;
  readonly maxPendingRequests?: number;
  readonly requestTimeoutMs?: number;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** Largest frame accepted from a peer. */
  readonly maxFrameBytes?: number;
}

export interface PeerTransportStats {
  sent: number;
  received: number;
  dropped: number;
  reconnects: number;
}

// Frame kinds: [MESSAGE, channel, payload], [REQUEST, id, channel, payload, timeoutMs],
// [RESPONSE, id, ok, payloadOrError], [HELLO, nodeId].
const MESSAGE = 0;
const REQUEST = 1;
const RESPONSE = 2;
const HELLO = 3;

interface Link {
  readonly id: PeerId;
  address: string | null;
  ws: WebSocket | null;
  /** Encoded frames waiting for the connection. */
  queue: Uint8Array[];
  backoffMs: number;
  reconnectTimer: NodeJS.Timeout | null;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class PeerTransport {
  readonly nodeId: PeerId;
  readonly stats: PeerTransportStats = { sent: 0, received: 0, dropped: 0, reconnects: 0 };
  private readonly packr = new Packr({ useRecords: false });
  private readonly server: WebSocketServer;
  private readonly links = new Map<PeerId, Link>();
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<number, Pending>();
  private readonly opts: Required<Omit<PeerTransportOptions, 'peers'>>;
  private nextRequestId = 1;
  private closed = false;

  private constructor(opts: PeerTransportOptions, server: WebSocketServer) {
    this.nodeId = opts.nodeId;
    this.server = server;
    this.opts = {
      nodeId: opts.nodeId,
      host: opts.host,
      port: opts.port,
      maxQueuedFrames: opts.maxQueuedFrames ?? 4096,
      maxBufferedBytes: opts.maxBufferedBytes ?? 64 * 1024 * 1024,
      maxPendingRequests: opts.maxPendingRequests ?? 4096,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5000,
      reconnectMinMs: opts.reconnectMinMs ?? 50,
      reconnectMaxMs: opts.reconnectMaxMs ?? 2000,
      maxFrameBytes: opts.maxFrameBytes ?? 64 * 1024 * 1024,
    };
    server.on('connection', (ws) => this.accept(ws));
    for (const [id, address] of Object.entries(opts.peers ?? {})) this.addPeer(id, address);
  }

  /** Starts listening; resolves once the port is bound. */
  static listen(opts: PeerTransportOptions): Promise<PeerTransport> {
    return new Promise((resolve, reject) => {
      const server = new WebSocketServer({
        host: opts.host,
        port: opts.port,
        maxPayload: opts.maxFrameBytes ?? 64 * 1024 * 1024,
      });
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        resolve(new PeerTransport(opts, server));
      });
    });
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr !== null ? addr.port : 0;
  }

  /** Registers the handler of a channel; a request's answer is its return value (or promise). */
  on(channel: string, handler: Handler): void {
    this.handlers.set(channel, handler);
  }

  addPeer(id: PeerId, address: string): void {
    if (id === this.nodeId) return;
    let link = this.links.get(id);
    if (link === undefined) {
      link = {
        id,
        address,
        ws: null,
        queue: [],
        backoffMs: this.opts.reconnectMinMs,
        reconnectTimer: null,
      };
      this.links.set(id, link);
    } else {
      link.address = address;
    }
    if (this.dials(id) && link.ws === null && link.reconnectTimer === null) this.dial(link);
  }

  removePeer(id: PeerId): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    this.links.delete(id);
    if (link.reconnectTimer !== null) clearTimeout(link.reconnectTimer);
    link.ws?.close();
  }

  isConnected(id: PeerId): boolean {
    return this.links.get(id)?.ws?.readyState === WebSocket.OPEN;
  }

  /** Fire and forget; false when the frame was dropped (unknown peer, or a bound was hit). */
  send(to: PeerId, channel: string, payload: unknown): boolean {
    return this.transmit(to, this.packr.pack([MESSAGE, channel, payload]));
  }

  /** A request with a deadline; rejects with PeerError (timeout, unreachable, remote, ...). */
  request(
    to: PeerId,
    channel: string,
    payload: unknown,
    timeoutMs = this.opts.requestTimeoutMs,
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(new PeerError('closed', 'transport closed'));
    if (this.pending.size >= this.opts.maxPendingRequests) {
      return Promise.reject(new PeerError('overloaded', 'too many pending peer requests'));
    }
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new PeerError(
            'timeout',
            `request to ${to} on ${channel} timed out after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.transmit(to, this.packr.pack([REQUEST, id, channel, payload, timeoutMs]))) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new PeerError('unreachable', `peer ${to} is unknown or its queue is full`));
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) {
      if (link.reconnectTimer !== null) clearTimeout(link.reconnectTimer);
      link.ws?.terminate();
    }
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new PeerError('closed', 'transport closed'));
    }
    this.pending.clear();
    for (const ws of this.server.clients) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------------------------------------------------------------------------------------------

  private dials(peer: PeerId): boolean {
    return this.nodeId < peer;
  }

  private transmit(to: PeerId, frame: Uint8Array): boolean {
    const link = this.links.get(to);
    if (link === undefined || this.closed) {
      this.stats.dropped++;
      return false;
    }
    const ws = link.ws;
    if (ws !== null && ws.readyState === WebSocket.OPEN) {
      if (ws.bufferedAmount > this.opts.maxBufferedBytes) {
        this.stats.dropped++;
        return false;
      }
      ws.send(frame);
      this.stats.sent++;
      return true;
    }
    if (link.queue.length >= this.opts.maxQueuedFrames) {
      link.queue.shift();
      this.stats.dropped++;
    }
    link.queue.push(frame);
    return true;
  }

  private dial(link: Link): void {
    if (this.closed || link.address === null) return;
    const ws = new WebSocket(`ws://${link.address}`, {
      maxPayload: this.opts.maxFrameBytes,
      // Masking guards browsers' proxies, not node-to-node links; with a zero mask ws skips
      // the XOR of every frame on both ends (it was 8 % of a coordinator's CPU at RF=3).
      generateMask: (mask: Buffer) => {
        mask.fill(0);
      },
    });
    ws.binaryType = 'nodebuffer';
    link.ws = ws;
    ws.on('open', () => {
      link.backoffMs = this.opts.reconnectMinMs;
      ws.send(this.packr.pack([HELLO, this.nodeId]));
      this.flush(link);
    });
    ws.on('message', (data) => this.onFrame(link.id, ws, data as Buffer));
    ws.on('error', () => {});
    ws.on('close', () => {
      if (link.ws === ws) link.ws = null;
      this.scheduleReconnect(link);
    });
  }

  private scheduleReconnect(link: Link): void {
    if (this.closed || !this.links.has(link.id) || link.reconnectTimer !== null) return;
    const delay = link.backoffMs * (0.5 + Math.random() / 2);
    link.backoffMs = Math.min(this.opts.reconnectMaxMs, link.backoffMs * 2);
    link.reconnectTimer = setTimeout(() => {
      link.reconnectTimer = null;
      this.stats.reconnects++;
      this.dial(link);
    }, delay);
  }

  private flush(link: Link): void {
    const ws = link.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    const queued = link.queue;
    link.queue = [];
    for (const frame of queued) {
      ws.send(frame);
      this.stats.sent++;
    }
  }

  /** An incoming connection: the first frame must say who is calling. */
  private accept(ws: WebSocket): void {
    let peer: PeerId | null = null;
    ws.on('error', () => {});
    ws.on('message', (data) => {
      if (peer !== null) {
        this.onFrame(peer, ws, data as Buffer);
        return;
      }
      const hello = this.decode(data as Buffer);
      if (!Array.isArray(hello) || hello[0] !== HELLO || typeof hello[1] !== 'string') {
        ws.close(1002, 'expected hello');
        return;
      }
      peer = hello[1];
      let link = this.links.get(peer);
      if (link === undefined) {
        link = {
          id: peer,
          address: null,
          ws: null,
          queue: [],
          backoffMs: this.opts.reconnectMinMs,
          reconnectTimer: null,
        };
        this.links.set(peer, link);
      }
      // A newer connection from the same peer (it restarted) replaces the old one.
      if (link.ws !== null && link.ws !== ws) link.ws.terminate();
      link.ws = ws;
      this.flush(link);
      ws.on('close', () => {
        if (link.ws !== ws) return;
        link.ws = null;
        // The peer dialed although this side is the dialer of the pair (a joining node reaching
        // a seed by address): once that connection is gone, this side must dial, or frames
        // queued for the peer would wait forever.
        if (this.dials(link.id)) this.scheduleReconnect(link);
      });
    });
  }

  private decode(data: Buffer): unknown {
    try {
      return this.packr.unpack(data);
    } catch {
      return null;
    }
  }

  private onFrame(from: PeerId, ws: WebSocket, data: Buffer): void {
    const frame = this.decode(data);
    if (!Array.isArray(frame)) return;
    this.stats.received++;
    switch (frame[0]) {
      case MESSAGE: {
        const handler = this.handlers.get(frame[1]);
        if (handler === undefined) return;
        try {
          handler(from, frame[2]);
        } catch {
          // A handler's failure on a one-way message has nobody to report to.
        }
        return;
      }
      case REQUEST:
        void this.answer(from, ws, frame[1], frame[2], frame[3]);
        return;
      case RESPONSE: {
        const p = this.pending.get(frame[1]);
        if (p === undefined) return;
        this.pending.delete(frame[1]);
        clearTimeout(p.timer);
        if (frame[2] === true) p.resolve(frame[3]);
        else p.reject(remoteFailure(frame[3]));
        return;
      }
      default:
        return;
    }
  }

  private async answer(
    from: PeerId,
    ws: WebSocket,
    id: number,
    channel: string,
    payload: unknown,
  ): Promise<void> {
    let reply: Uint8Array;
    const handler = this.handlers.get(channel);
    try {
      if (handler === undefined) throw new Error(`no handler for channel ${channel}`);
      reply = this.packr.pack([RESPONSE, id, true, await handler(from, payload)]);
    } catch (e) {
      reply = this.packr.pack([RESPONSE, id, false, failurePayload(e)]);
    }
    if (ws.readyState === WebSocket.OPEN) ws.send(reply);
  }
}

/**
 * A handler's failure as it travels: a CountError keeps its code, message and details (so the
 * caller can act on `stale_epoch` or `conflict`); anything else is only its message.
 */
function failurePayload(e: unknown): unknown {
  if (e instanceof CountError) {
    return { code: e.code, message: e.message, details: e.details ?? null };
  }
  return e instanceof Error ? e.message : String(e);
}

function remoteFailure(payload: unknown): Error {
  if (typeof payload === 'object' && payload !== null) {
    const p = payload as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof p.code === 'string' && Object.hasOwn(ERROR_CODES, p.code)) {
      const details =
        typeof p.details === 'object' && p.details !== null
          ? (p.details as Record<string, unknown>)
          : undefined;
      return new CountError(p.code as ErrorCode, String(p.message), {
        ...(details === undefined ? {} : { details }),
      });
    }
  }
  return new PeerError('remote', String(payload));
}

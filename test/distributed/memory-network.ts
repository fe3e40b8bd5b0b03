import { Packr } from 'msgpackr';
import type { PeerNetwork } from '../../src/env/cluster-env.js';
import { CountError, type ErrorCode } from '../../src/model/errors.js';
import { PeerError } from '../../src/net/peer-transport.js';

type Handler = (from: string, payload: unknown) => unknown;

/**
 * An in-memory PeerNetwork for data-plane tests, with the real transport's semantics: payloads
 * cross through msgpack (so nothing is shared by reference), a CountError thrown by a handler
 * reaches the caller as a CountError with its code and details, other failures are PeerErrors.
 * Nodes can be down (unreachable at once), hung (requests time out) or partitioned pairwise.
 */
export class MemoryNetwork {
  private readonly handlers = new Map<string, Map<string, Handler>>();
  private readonly down = new Set<string>();
  private readonly hung = new Set<string>();
  private readonly cuts = new Set<string>();
  private readonly delays = new Map<string, number>();
  private loss = 0;
  private random: () => number = () => 0.5;
  private readonly packr = new Packr({ useRecords: false });
  /** Requests per channel, for assertions. */
  readonly requests = new Map<string, number>();

  endpoint(nodeId: string): PeerNetwork {
    const handlers = new Map<string, Handler>();
    this.handlers.set(nodeId, handlers);
    return {
      send: (to, channel, payload) => this.send(nodeId, to, channel, payload),
      request: (to, channel, payload, timeoutMs) =>
        this.request(nodeId, to, channel, payload, timeoutMs),
      on: (channel, handler) => {
        handlers.set(channel, handler);
      },
      addPeer: () => {},
      removePeer: () => {},
    };
  }

  setDown(id: string, down: boolean): void {
    if (down) this.down.add(id);
    else this.down.delete(id);
  }

  /** Requests to a hung node are delivered nowhere and time out. */
  setHung(id: string, hung: boolean): void {
    if (hung) this.hung.add(id);
    else this.hung.delete(id);
  }

  /**
   * Each request, and each answer, is lost with probability `p` (drawn from `random`, a seeded
   * source): the caller sees a timeout either way, as on a real lossy link.
   */
  setLoss(p: number, random: () => number): void {
    this.loss = p;
    this.random = random;
  }

  private lost(): boolean {
    return this.loss > 0 && this.random() < this.loss;
  }

  /** Requests to `id` are handled `ms` late (a slow node). */
  setDelay(id: string, ms: number): void {
    this.delays.set(id, ms);
  }

  partition(a: string, b: string): void {
    this.cuts.add(`${a}|${b}`);
    this.cuts.add(`${b}|${a}`);
  }

  heal(): void {
    this.cuts.clear();
  }

  count(channel: string): number {
    return this.requests.get(channel) ?? 0;
  }

  private reachable(from: string, to: string): boolean {
    return !this.down.has(from) && !this.down.has(to) && !this.cuts.has(`${from}|${to}`);
  }

  private send(from: string, to: string, channel: string, payload: unknown): boolean {
    const handler = this.handlers.get(to)?.get(channel);
    if (handler === undefined || !this.reachable(from, to)) return false;
    const copy = this.packr.unpack(this.packr.pack(payload));
    setImmediate(() => {
      try {
        handler(from, copy);
      } catch {
        // one-way: nobody to tell
      }
    });
    return true;
  }

  private request(
    from: string,
    to: string,
    channel: string,
    payload: unknown,
    timeoutMs: number,
  ): Promise<unknown> {
    this.requests.set(channel, (this.requests.get(channel) ?? 0) + 1);
    if (!this.reachable(from, to)) {
      return Promise.reject(new PeerError('unreachable', `${to} is unreachable from ${from}`));
    }
    const copy = this.packr.unpack(this.packr.pack(payload));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new PeerError('timeout', `request to ${to} on ${channel} timed out`)),
        timeoutMs,
      );
      if (this.hung.has(to) || this.lost()) return;
      const delay = this.delays.get(to) ?? 0;
      const later = (fn: () => void) => (delay > 0 ? setTimeout(fn, delay) : setImmediate(fn));
      later(async () => {
        const handler = this.handlers.get(to)?.get(channel);
        try {
          if (handler === undefined) throw new Error(`no handler for channel ${channel}`);
          const answer = await handler(from, copy);
          // A node that went down meanwhile never answers; an answer can be lost too.
          if (!this.reachable(from, to) || this.lost()) return;
          clearTimeout(timer);
          resolve(this.packr.unpack(this.packr.pack(answer ?? null)));
        } catch (e) {
          if (!this.reachable(from, to)) return;
          clearTimeout(timer);
          if (e instanceof CountError) {
            reject(
              new CountError(e.code as ErrorCode, e.message, {
                details: e.details,
                retryAfterSeconds: e.retryAfterSeconds,
              }),
            );
          } else {
            reject(new PeerError('remote', e instanceof Error ? e.message : String(e)));
          }
        }
      });
    });
  }
}

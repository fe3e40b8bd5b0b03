import type { Env } from './env.js';

/**
 * What cluster code (src/cluster, src/distributed) may use of the network: one-way messages and
 * requests with a deadline between named nodes, on named channels ('raft', 'gossip.*', 'meta.*',
 * 'data.*', 'hint.*', 'repair.*'). Production passes the ws PeerTransport (src/net), which has
 * this shape; tests and the simulator pass in-memory networks.
 *
 * Errors of `request`: a PeerError (src/net/peer-transport.ts) with code timeout | unreachable |
 * remote | overloaded | closed, except that a handler that throws a CountError makes the
 * caller's promise reject with a CountError of the same code, message and details, so a
 * coordinator can tell `stale_epoch` or `conflict` from a broken link.
 */
export interface PeerNetwork {
  /** Fire and forget; false when the message was dropped at once (unknown peer, queue full). */
  send(to: string, channel: string, payload: unknown): boolean;
  request(to: string, channel: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  /** Registers the one handler of a channel; a request's answer is its return value (or promise). */
  on(channel: string, handler: (from: string, payload: unknown) => unknown): void;
  addPeer(id: string, address: string): void;
  removePeer(id: string): void;
}

/** Env plus the node's identity and network: everything a cluster component is given. */
export interface ClusterEnv extends Env {
  readonly nodeId: string;
  readonly net: PeerNetwork;
}

/** Builds a ClusterEnv from a node's Env (real or simulated) and its network. */
export function clusterEnvOf(env: Env, nodeId: string, net: PeerNetwork): ClusterEnv {
  return {
    nodeId,
    net,
    now: () => env.now(),
    monotonic: () => env.monotonic(),
    setTimer: (delayMs, fn) => env.setTimer(delayMs, fn),
    random: () => env.random(),
    vfs: env.vfs,
  };
}

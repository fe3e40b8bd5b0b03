import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import { MAX_ADDRESS_LENGTH, MAX_ID_LENGTH } from './gossip-messages.js';

/**
 * Gossip's settings and the formulas derived from them. The defaults are memberlist's LAN
 * profile (probe every second, 500 ms direct timeout, 3 indirect probes, suspicion multiplier
 * 4 growing to 6x with no confirmation, retransmit multiplier 4), with a full-state exchange
 * every 10 s instead of 30 s so a partition heals sooner. docs/gossip.md gives the detection
 * times they yield.
 */
export interface GossipTiming {
  /** Time between probes of successive members (stretched by local health). */
  probeIntervalMs: number;
  /** Wait for a direct ack before asking others to probe (stretched by local health). */
  probeTimeoutMs: number;
  /** How many peers probe a silent member for us (SWIM's k). */
  indirectChecks: number;
  /** Suspicion timeout = suspicionMult * max(1, log10(n)) * probeIntervalMs at least. */
  suspicionMult: number;
  /** With no confirmations the suspicion timeout is this many times the minimum. */
  suspicionMaxTimeoutMult: number;
  /** Interval of the piggyback-only gossip rounds. */
  gossipIntervalMs: number;
  /** Members each gossip round sends to. */
  gossipFanout: number;
  /** Each update is sent retransmitMult * ceil(log10(n + 1)) times. */
  retransmitMult: number;
  /** Full-state exchange with one live member, and one dead member (to heal partitions). */
  syncIntervalMs: number;
  /** Dead members keep receiving gossip this long, so a wrongly dead node hears it and refutes. */
  gossipToTheDeadMs: number;
  /** Local health score ranges over [0, awarenessMax - 1]. */
  awarenessMax: number;
}

export interface GossipLimits {
  /** Members tracked, including this node; unknown members past it are ignored. */
  maxMembers: number;
  /** Records piggybacked on one ping, ack or gossip message. */
  maxPiggyback: number;
  /** Indirect probes this node relays at once; further ping-reqs are ignored. */
  maxPendingRelays: number;
  /** Removed members remembered, so stale gossip cannot bring them back. */
  maxTombstones: number;
}

/** Faults the tests plant to show that they catch them (never set in production). */
export type GossipBug =
  /** A suspected node re-announces itself without raising its incarnation. */
  | 'refute-same-incarnation'
  /** An alive record with an incarnation equal to the suspected one clears the suspicion. */
  | 'accept-stale-alive';

export const DEFAULT_GOSSIP_TIMING: Readonly<GossipTiming> = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  gossipIntervalMs: 200,
  gossipFanout: 3,
  retransmitMult: 4,
  syncIntervalMs: 10_000,
  gossipToTheDeadMs: 30_000,
  awarenessMax: 8,
};

export const DEFAULT_GOSSIP_LIMITS: Readonly<GossipLimits> = {
  maxMembers: 1024,
  maxPiggyback: 16,
  maxPendingRelays: 64,
  maxTombstones: 1024,
};

export interface GossipSeed {
  readonly id: string;
  readonly peerAddress: string;
  readonly httpAddress: string;
}

export interface GossipOptions {
  /** This node's addresses, as other nodes should reach it. */
  readonly peerAddress: string;
  readonly httpAddress: string;
  /** Members known at start (from metadata or flags); start() exchanges state with a few. */
  readonly seeds?: readonly GossipSeed[];
  /** The local metadata epoch at start. */
  readonly epoch?: number;
  readonly timing?: Partial<GossipTiming>;
  readonly limits?: Partial<GossipLimits>;
  readonly bugs?: ReadonlySet<GossipBug>;
}

export interface ResolvedGossipOptions {
  readonly peerAddress: string;
  readonly httpAddress: string;
  readonly seeds: readonly GossipSeed[];
  readonly epoch: number;
  readonly timing: Readonly<GossipTiming>;
  readonly limits: Readonly<GossipLimits>;
  readonly bugs: ReadonlySet<GossipBug>;
}

function positive(name: string, v: number, integer: boolean): void {
  if (!(Number.isFinite(v) && v > 0 && (!integer || Number.isInteger(v)))) {
    throw new CountError('invalid_parameter', `gossip option ${name} must be a positive number`, {
      field: name,
    });
  }
}

/** Fills in defaults and refuses settings that would break the protocol's timing. */
export function resolveGossipOptions(opts: GossipOptions): ResolvedGossipOptions {
  const timing: GossipTiming = { ...DEFAULT_GOSSIP_TIMING, ...opts.timing };
  const limits: GossipLimits = { ...DEFAULT_GOSSIP_LIMITS, ...opts.limits };
  for (const [k, v] of Object.entries(timing)) {
    const integer = !k.endsWith('Ms');
    if (k === 'suspicionMult' || k === 'suspicionMaxTimeoutMult') positive(k, v, false);
    else positive(k, v, integer);
  }
  for (const [k, v] of Object.entries(limits)) positive(k, v, true);
  if (timing.probeTimeoutMs >= timing.probeIntervalMs) {
    throw new CountError(
      'invalid_parameter',
      'gossip option probeTimeoutMs must be below probeIntervalMs (indirect probes need time)',
      { field: 'probeTimeoutMs' },
    );
  }
  if (timing.suspicionMaxTimeoutMult < 1) {
    throw new CountError('invalid_parameter', 'gossip suspicionMaxTimeoutMult must be >= 1', {
      field: 'suspicionMaxTimeoutMult',
    });
  }
  for (const [name, v] of [
    ['peerAddress', opts.peerAddress],
    ['httpAddress', opts.httpAddress],
  ] as const) {
    if (typeof v !== 'string' || v.length > MAX_ADDRESS_LENGTH) {
      throw new CountError('invalid_parameter', `gossip ${name} must be at most 256 characters`, {
        field: name,
      });
    }
  }
  const epoch = opts.epoch ?? 0;
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new CountError('invalid_parameter', 'gossip epoch must be a non-negative integer', {
      field: 'epoch',
    });
  }
  return {
    peerAddress: opts.peerAddress,
    httpAddress: opts.httpAddress,
    seeds: opts.seeds ?? [],
    epoch,
    timing,
    limits,
    bugs: opts.bugs ?? new Set(),
  };
}

export function checkMemberId(id: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new CountError('invalid_parameter', 'a member id must be 1 to 128 characters', {
      field: 'id',
    });
  }
}

/** Times an update is piggybacked: retransmitMult * ceil(log10(n + 1)). */
export function retransmitLimit(mult: number, members: number): number {
  return mult * Math.max(1, Math.ceil(Math.log10(members + 1)));
}

/**
 * Suspicion bounds for a cluster of `members` live nodes: the minimum scales with log10(n) (it
 * takes longer for news to reach everyone), the maximum applies while nobody confirms.
 * `expected` is how many independent confirmations bring it down to the minimum; 0 when the
 * cluster is too small to provide them (memberlist's rule), so small clusters use the minimum.
 */
export function suspicionBounds(
  timing: Readonly<GossipTiming>,
  members: number,
): { minMs: number; maxMs: number; expected: number } {
  assert(members >= 1, 'suspicionBounds: members must be >= 1');
  const scale = Math.max(1, Math.log10(members));
  const minMs = Math.floor(timing.suspicionMult * scale * timing.probeIntervalMs);
  const maxMs = Math.floor(timing.suspicionMaxTimeoutMult * minMs);
  let expected = Math.max(0, Math.floor(timing.suspicionMult) - 2);
  if (members - 2 < expected) expected = 0;
  return { minMs, maxMs, expected };
}

import { createHash } from 'node:crypto';
import { assert } from '../model/assert.js';
import type { Token } from './cluster-state.js';

/**
 * Token allocation for a joining node. Random tokens leave the largest node with about 1.4x the
 * mean share at 16 tokens per node; instead each new token is placed inside a range of the most
 * loaded owner so that the new node takes a slice of it, which keeps every node close to the
 * mean with few tokens (after the idea of Cassandra's allocate_tokens_for_local_replication_factor,
 * simplified to primary ownership). Deterministic: the same ring and node id give the same tokens,
 * so every replica of the state machine computes the same allocation.
 */

const RING = 2n ** 64n;
const RING_F = 2 ** 64;

export interface TokenHolder {
  readonly id: string;
  readonly tokens: readonly Token[];
}

interface VNode {
  value: bigint;
  owner: string;
}

function toBig(t: Token): bigint {
  return BigInt(`0x${t}`);
}

export function tokenFromBigInt(v: bigint): Token {
  const x = ((v % RING) + RING) % RING;
  return x.toString(16).padStart(16, '0');
}

/** A stable pseudo-random value in [0, 2^64) for tie-free spreading of a first node's tokens. */
function hash64(text: string): bigint {
  return BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
}

/** Length of the range (prev, cur] on the ring; a one-token ring is the whole ring. */
function span(prev: bigint, cur: bigint): bigint {
  const d = (cur - prev + RING) % RING;
  return d === 0n ? RING : d;
}

/** Primary share per holder: the sum of the ranges ending at its tokens, as fractions of the ring. */
export function primaryShares(holders: readonly TokenHolder[]): Map<string, number> {
  const vnodes: VNode[] = [];
  for (const h of holders) for (const t of h.tokens) vnodes.push({ value: toBig(t), owner: h.id });
  vnodes.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const shares = new Map<string, number>();
  for (const h of holders) shares.set(h.id, 0);
  for (let i = 0; i < vnodes.length; i++) {
    const prev = vnodes[(i + vnodes.length - 1) % vnodes.length].value;
    const len = span(prev, vnodes[i].value);
    shares.set(vnodes[i].owner, (shares.get(vnodes[i].owner) ?? 0) + Number(len) / RING_F);
  }
  return shares;
}

/** Largest share over mean share: 1 is perfect balance. */
export function imbalance(shares: ReadonlyMap<string, number>): number {
  let max = 0;
  let sum = 0;
  for (const s of shares.values()) {
    max = Math.max(max, s);
    sum += s;
  }
  return shares.size === 0 ? 1 : max / (sum / shares.size);
}

/**
 * `count` new tokens for `newId`, given the tokens of the current owners. The new node should end
 * with the mean share T = ring / (n + 1). Each token takes a slice of the largest range of the
 * currently most loaded owner: the slice is what the new node still needs spread over its tokens
 * left, capped so the victim keeps at least the target and the range keeps a piece.
 */
export function allocateTokens(
  owners: readonly TokenHolder[],
  newId: string,
  count: number,
): Token[] {
  assert(Number.isInteger(count) && count >= 1 && count <= 256, 'tokens per node: 1..256');
  const vnodes: VNode[] = [];
  for (const h of owners) {
    assert(h.id !== newId, `allocateTokens: ${newId} already owns tokens`);
    for (const t of h.tokens) vnodes.push({ value: toBig(t), owner: h.id });
  }
  if (vnodes.length === 0) {
    // The first node: evenly spaced from a node-specific offset.
    const step = RING / BigInt(count);
    const offset = hash64(newId) % step;
    return Array.from({ length: count }, (_, i) => tokenFromBigInt(offset + step * BigInt(i)));
  }
  vnodes.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const load = new Map<string, number>();
  for (let i = 0; i < vnodes.length; i++) {
    const prev = vnodes[(i + vnodes.length - 1) % vnodes.length].value;
    const o = vnodes[i].owner;
    load.set(o, (load.get(o) ?? 0) + Number(span(prev, vnodes[i].value)));
  }
  const target = RING_F / (load.size + 1);
  let got = 0;
  const taken = new Set<bigint>(vnodes.map((v) => v.value));
  const out: Token[] = [];
  for (let k = 0; k < count; k++) {
    const left = count - k;
    const want = Math.max(0, (target - got) / left);
    // The most loaded owner (ties by id, for determinism) and its largest range.
    let best = -1;
    let bestLoad = -1;
    let bestLen = -1n;
    for (let i = 0; i < vnodes.length; i++) {
      const o = vnodes[i].owner;
      if (o === newId) continue;
      const l = load.get(o) ?? 0;
      const prev = vnodes[(i + vnodes.length - 1) % vnodes.length].value;
      const len = span(prev, vnodes[i].value);
      if (len < 4n) continue;
      if (l > bestLoad || (l === bestLoad && len > bestLen)) {
        best = i;
        bestLoad = l;
        bestLen = len;
      }
    }
    if (best < 0) break;
    const victim = vnodes[best].owner;
    const prev = vnodes[(best + vnodes.length - 1) % vnodes.length].value;
    const len = Number(bestLen);
    let slice = Math.min(want, len - 2, Math.max(0, bestLoad - target * 0.9));
    if (slice < 1) slice = len / 2;
    let value = (prev + BigInt(Math.floor(slice))) % RING;
    while (taken.has(value)) value = (value + 1n) % RING;
    taken.add(value);
    const sliceExact = Number(span(prev, value));
    vnodes.splice(best, 0, { value, owner: newId });
    // splice before `best` keeps the order only when the new value does not wrap; re-sort if so.
    if (best === 0 || value < prev) {
      vnodes.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    }
    load.set(victim, bestLoad - sliceExact);
    got += sliceExact;
    load.set(newId, got);
    out.push(tokenFromBigInt(value));
  }
  // Fall back to hashed tokens if the ring was too crowded to place them all (tiny rings).
  for (let i = 0; out.length < count && i < 10 * count; i++) {
    const v = hash64(`${newId}:${i}`);
    if (!taken.has(v)) {
      taken.add(v);
      out.push(tokenFromBigInt(v));
    }
  }
  assert(out.length === count, 'allocateTokens: could not place every token');
  return out.sort();
}

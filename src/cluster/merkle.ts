import { assert } from '../model/assert.js';
import type { Samples } from '../model/point.js';

/**
 * Merkle trees of (series, time bucket) digests, for anti-entropy between the replicas of a
 * token range.
 *
 * A point's digest is a 64-bit hash (two 32-bit lanes) of its series, timestamp and value bits.
 * A leaf entry is one (series, bucket) and its digest is the lane-wise sum (mod 2^32) of its
 * points' digests: a sum does not depend on the order points were written or read. Replicas
 * store converged points (one value per timestamp, chosen by the convergence rule), so two
 * replicas holding the same converged points have equal digests, whatever the order in which
 * writes, repairs and hints reached them.
 *
 * Entries are spread over 2^depth slots by a hash of (series, bucket); a slot's value is the sum
 * of its entries, and inner nodes hash their two children. Comparing two trees top-down names
 * the slots that differ; only their entries are then exchanged, and only the differing entries'
 * points streamed.
 */
export const DEFAULT_MERKLE_DEPTH = 10;
export const MAX_MERKLE_DEPTH = 16;

const scratch = new Float64Array(2);
const scratchWords = new Uint32Array(scratch.buffer);

/** murmur3's 32-bit finalizer: every input bit affects every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

/** A 32-bit hash of a string (UTF-16 code units), seeded so that two seeds give two lanes. */
export function hashString(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i));
  return fmix32(h ^ s.length);
}

const SEED_HI = 0x9747b28c;
const SEED_LO = 0x5bd1e995;

/** The two lane seeds of a series: hash its key once, then digest its points with them. */
export interface SeriesSeed {
  hi: number;
  lo: number;
}

export function seriesSeed(series: string): SeriesSeed {
  return { hi: hashString(series, SEED_HI), lo: hashString(series, SEED_LO) };
}

/** Digest lanes of one point; `out[0]` = hi, `out[1]` = lo. */
export function pointDigest(seed: SeriesSeed, t: number, v: number, out: Uint32Array): void {
  scratch[0] = t;
  scratch[1] = v;
  const w0 = scratchWords[0];
  const w1 = scratchWords[1];
  const w2 = scratchWords[2];
  const w3 = scratchWords[3];
  out[0] = fmix32(mix(mix(mix(mix(seed.hi, w0), w1), w2), w3));
  out[1] = fmix32(mix(mix(mix(mix(seed.lo, w3), w2), w1), w0));
}

/** One (series, bucket) entry: bucket b covers [b * bucketMs, (b + 1) * bucketMs). */
export interface LeafEntry {
  series: string;
  bucket: number;
  hi: number;
  lo: number;
  count: number;
}

/**
 * Calls `emit` once per time bucket that holds points of `samples` (sorted, one per timestamp),
 * with the bucket's digest lanes and point count.
 */
export function forEachBucketDigest(
  series: string,
  samples: Samples,
  bucketMs: number,
  emit: (bucket: number, hi: number, lo: number, count: number) => void,
): void {
  assert(bucketMs >= 1, 'forEachBucketDigest: bucketMs must be >= 1');
  const ts = samples.timestamps;
  const vs = samples.values;
  const n = ts.length;
  if (n === 0) return;
  const seed = seriesSeed(series);
  const d = new Uint32Array(2);
  let bucket = Math.floor(ts[0] / bucketMs);
  let hi = 0;
  let lo = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const b = Math.floor(ts[i] / bucketMs);
    if (b !== bucket) {
      emit(bucket, hi, lo, count);
      bucket = b;
      hi = 0;
      lo = 0;
      count = 0;
    }
    pointDigest(seed, ts[i], vs[i], d);
    hi = (hi + d[0]) >>> 0;
    lo = (lo + d[1]) >>> 0;
    count++;
  }
  emit(bucket, hi, lo, count);
}

/** Order-independent digest of all points of `samples` (two lanes), e.g. to compare replicas. */
export function samplesDigest(series: string, samples: Samples): { hi: number; lo: number } {
  const seed = seriesSeed(series);
  const d = new Uint32Array(2);
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < samples.timestamps.length; i++) {
    pointDigest(seed, samples.timestamps[i], samples.values[i], d);
    hi = (hi + d[0]) >>> 0;
    lo = (lo + d[1]) >>> 0;
  }
  return { hi, lo };
}

/** The slot of a (series, bucket) entry in a tree of 2^depth leaves. */
export function slotOf(series: string, bucket: number, depth: number): number {
  const h = fmix32(
    mix(mix(hashString(series, 0x2545f491), bucket >>> 0), (bucket / 2 ** 32) >>> 0),
  );
  return depth === 0 ? 0 : h >>> (32 - depth);
}

export class MerkleTree {
  readonly depth: number;
  /**
   * Heap layout: node 1 is the root, node i has children 2i and 2i+1, the leaves (slots) are
   * nodes 2^depth .. 2^(depth+1)-1. Two lanes per node.
   */
  readonly nodes: Uint32Array;
  private built = false;

  constructor(depth = DEFAULT_MERKLE_DEPTH, nodes?: Uint32Array) {
    assert(
      Number.isInteger(depth) && depth >= 0 && depth <= MAX_MERKLE_DEPTH,
      `MerkleTree: depth must be an integer in [0, ${MAX_MERKLE_DEPTH}]`,
    );
    this.depth = depth;
    const size = 2 * 2 ** (depth + 1);
    if (nodes !== undefined) {
      assert(nodes.length === size, 'MerkleTree: node array of the wrong size');
      this.nodes = nodes;
      this.built = true;
    } else {
      this.nodes = new Uint32Array(size);
    }
  }

  get slots(): number {
    return 2 ** this.depth;
  }

  /** Adds one (series, bucket) digest to its slot. Only before `build()`. */
  add(series: string, bucket: number, hi: number, lo: number): void {
    assert(!this.built, 'MerkleTree.add after build');
    const node = this.slots + slotOf(series, bucket, this.depth);
    this.nodes[2 * node] = (this.nodes[2 * node] + hi) >>> 0;
    this.nodes[2 * node + 1] = (this.nodes[2 * node + 1] + lo) >>> 0;
  }

  /** Computes the inner nodes from the slots; the tree is then read-only. */
  build(): this {
    if (this.built) return this;
    const n = this.nodes;
    for (let i = this.slots - 1; i >= 1; i--) {
      const l = 2 * (2 * i);
      const r = 2 * (2 * i + 1);
      n[2 * i] = fmix32(mix(mix(mix(mix(0x1b873593, n[l]), n[l + 1]), n[r]), n[r + 1]));
      n[2 * i + 1] = fmix32(mix(mix(mix(mix(0xe6546b64, n[r + 1]), n[r]), n[l + 1]), n[l]));
    }
    this.built = true;
    return this;
  }

  rootEquals(other: MerkleTree): boolean {
    return this.nodes[2] === other.nodes[2] && this.nodes[3] === other.nodes[3];
  }

  /** Slots whose digests differ, ascending, found by walking down from the root. */
  diff(other: MerkleTree): number[] {
    assert(this.built && other.built, 'MerkleTree.diff before build');
    assert(this.depth === other.depth, 'MerkleTree.diff: trees of different depths');
    const a = this.nodes;
    const b = other.nodes;
    const out: number[] = [];
    const stack = [1];
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (a[2 * i] === b[2 * i] && a[2 * i + 1] === b[2 * i + 1]) continue;
      if (i >= this.slots) out.push(i - this.slots);
      else stack.push(2 * i + 1, 2 * i);
    }
    return out.sort((x, y) => x - y);
  }

  /** The nodes as bytes, to send to a peer (little-endian lanes). */
  toBytes(): Uint8Array {
    assert(this.built, 'MerkleTree.toBytes before build');
    return new Uint8Array(this.nodes.buffer, this.nodes.byteOffset, this.nodes.byteLength).slice();
  }

  static fromBytes(depth: number, bytes: Uint8Array): MerkleTree {
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    assert(copy.byteLength % 4 === 0, 'MerkleTree.fromBytes: length not a multiple of 4');
    return new MerkleTree(depth, new Uint32Array(copy.buffer));
  }
}

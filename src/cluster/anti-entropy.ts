import type { ClusterEnv } from '../env/cluster-env.js';
import type { TimerHandle } from '../env/env.js';
import { PointBatch } from '../model/batch.js';
import { CountError } from '../model/errors.js';
import { MAX_TIMESTAMP_EXCLUSIVE, type Samples } from '../model/point.js';
import { NAME_LABEL, type Selector } from '../model/selector.js';
import { isCanonical } from '../model/series.js';
import { mergeSamples } from '../query/merge.js';
import type { StorageEngine } from '../storage/engine.js';
import type { RangeBounds, Token } from './cluster-state.js';
import {
  DEFAULT_MERKLE_DEPTH,
  forEachBucketDigest,
  type LeafEntry,
  MAX_MERKLE_DEPTH,
  MerkleTree,
  slotOf,
} from './merkle.js';
import { pointsLacking } from './points-lacking.js';
import { writeRepair } from './repair-write.js';
import { type Ring, rangeContains, tokenOf } from './ring.js';
import { decodeBatch, decodeSamples, encodeBatch, encodeSamples } from './samples-codec.js';

/**
 * Anti-entropy: for each token range, the replicas compare Merkle trees of their
 * (series, time bucket) digests (merkle.ts), exchange the entries of the slots that differ, and
 * stream the points of the differing entries both ways, merged by the convergence rule. Two
 * replicas that ran it hold the same converged points for the range and window, so their trees
 * are equal. It repairs what hints and read repair missed (hints past their bound or age, data
 * never read).
 *
 * Channels (each request carries the sender's epoch): 'repair.tree' (a range's tree),
 * 'repair.leaves' (the entries of some slots), 'repair.read' (a series' points in a window),
 * 'repair.write' (points to add, as a repair write).
 */
export const REPAIR_TREE = 'repair.tree';
export const REPAIR_LEAVES = 'repair.leaves';
export const REPAIR_READ = 'repair.read';
export const REPAIR_WRITE = 'repair.write';

/** Every series of a node: `__name__` matches any non-empty name. */
export const ALL_SERIES: Selector = [{ name: NAME_LABEL, op: '=~', value: '.+' }];

/** A bug planted on purpose, to show the convergence check catches it. */
export type AntiEntropyBug = 'one-way';

export interface AntiEntropyOptions {
  /** Width of a time bucket in the tree's entries. */
  bucketMs: number;
  /** The tree has 2^depth slots. */
  depth: number;
  /** How often every local range is compared with its other replicas; 0: only on demand. */
  intervalMs: number;
  /** Entries one 'repair.leaves' answer holds; the rest wait for the next run. */
  maxLeaves: number;
  /** Points per repair write. */
  batchPoints: number;
  timeoutMs: number;
  bugs: readonly AntiEntropyBug[];
}

export const DEFAULT_ANTI_ENTROPY_OPTIONS: AntiEntropyOptions = {
  bucketMs: 3600_000,
  depth: DEFAULT_MERKLE_DEPTH,
  intervalMs: 0,
  maxLeaves: 50_000,
  batchPoints: 10_000,
  timeoutMs: 30_000,
  bugs: [],
};

export interface RepairStats {
  /** Slots whose digests differed. */
  slots: number;
  /** (series, bucket) entries that differed. */
  entries: number;
  /** Points written here from the peer. */
  pulled: number;
  /** Points sent to the peer. */
  pushed: number;
}

export interface AntiEntropyMetadata {
  ring(): Ring;
  epoch(): number;
  catchUp(epoch: number, hintPeer?: string): Promise<void>;
}

export interface TimeWindow {
  start: number;
  end: number;
}

const ALL_TIME: TimeWindow = { start: 0, end: MAX_TIMESTAMP_EXCLUSIVE };
const TOKEN_RE = /^[0-9a-f]{16}$/;

export class AntiEntropy {
  readonly options: AntiEntropyOptions;
  readonly totals: RepairStats = { slots: 0, entries: 0, pulled: 0, pushed: 0 };
  private timer: TimerHandle | null = null;
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly env: ClusterEnv,
    private readonly engine: StorageEngine,
    private readonly metadata: AntiEntropyMetadata,
    private readonly isAlive: (id: string) => boolean,
    options: Partial<AntiEntropyOptions> = {},
  ) {
    this.options = { ...DEFAULT_ANTI_ENTROPY_OPTIONS, ...options };
    const net = env.net;
    net.on(REPAIR_TREE, async (from, p) => {
      const q = this.request(from, p);
      const tree = await this.tree(q.range, q.window, q.bucketMs, q.depth);
      return { epoch: this.metadata.epoch(), tree: tree.toBytes() };
    });
    net.on(REPAIR_LEAVES, async (from, p) => {
      const q = this.request(from, p);
      const slots = (p as { slots?: unknown }).slots;
      if (!Array.isArray(slots) || !slots.every((s) => Number.isInteger(s))) {
        throw new CountError('invalid_body', `${REPAIR_LEAVES}: slots must be a list of integers`);
      }
      const leaves = await this.leaves(q.range, q.window, q.bucketMs, q.depth, new Set(slots));
      return { epoch: this.metadata.epoch(), leaves: leaves.slice(0, this.options.maxLeaves) };
    });
    net.on(REPAIR_READ, async (from, p) => {
      const q = this.request(from, p);
      const series = (p as { series?: unknown }).series;
      if (typeof series !== 'string' || !isCanonical(series)) {
        throw new CountError('invalid_series', `${REPAIR_READ}: series must be a canonical key`);
      }
      const windows = checkWindows((p as { windows?: unknown }).windows, q.window);
      return {
        epoch: this.metadata.epoch(),
        points: encodeSamples(await this.readWindows(series, windows)),
      };
    });
    net.on(REPAIR_WRITE, async (from, p) => {
      this.noteEpoch(from, p);
      const batch = decodeBatch((p as { batch?: unknown }).batch);
      await writeRepair(this.engine, batch);
      return { epoch: this.metadata.epoch() };
    });
    this.schedule();
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
  }

  /**
   * Compares each range this node initiates (it is the range's first live replica) with each
   * other live replica, once.
   */
  runOnce(window: TimeWindow = ALL_TIME): Promise<void> {
    this.running ??= this.runAll(window).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runAll(window: TimeWindow): Promise<void> {
    const self = this.env.nodeId;
    for (const range of this.metadata.ring().ranges()) {
      if (this.closed) return;
      // One initiator per range: its first live replica (repairs go both ways, so one
      // exchange per pair of replicas is enough).
      const initiator = range.replicas.find((r) => r === self || this.isAlive(r));
      if (initiator !== self) continue;
      const peers = range.replicas.filter((r) => r !== self && this.isAlive(r));
      // Pairwise exchanges: after the first pass this node holds the union of all replicas;
      // the second gives it to the peers repaired before the last one.
      for (const peer of [...peers, ...peers.slice(0, -1)]) {
        try {
          await this.repairRange(range, peer, window);
        } catch {
          // The peer went away or refused: the next run tries again.
        }
      }
    }
  }

  private schedule(): void {
    if (this.closed || this.options.intervalMs <= 0) return;
    this.timer = this.env.setTimer(this.options.intervalMs, () => {
      void this.runOnce()
        .catch(() => undefined)
        .finally(() => this.schedule());
    });
  }

  /** Makes this node and `peer` hold the same converged points of `range` in `window`. */
  async repairRange(
    range: RangeBounds,
    peer: string,
    window: TimeWindow = ALL_TIME,
  ): Promise<RepairStats> {
    const { bucketMs, depth } = this.options;
    const stats: RepairStats = { slots: 0, entries: 0, pulled: 0, pushed: 0 };
    const base = {
      range: [range.start, range.end],
      window: [window.start, window.end],
      bucketMs,
      depth,
    };
    const [local, remoteAnswer] = await Promise.all([
      this.tree(range, window, bucketMs, depth),
      this.call<{ tree: Uint8Array }>(peer, REPAIR_TREE, base),
    ]);
    const remote = MerkleTree.fromBytes(depth, remoteAnswer.tree);
    if (local.rootEquals(remote)) return stats;
    const slots = local.diff(remote);
    stats.slots = slots.length;
    const [mine, theirs] = await Promise.all([
      this.leaves(range, window, bucketMs, depth, new Set(slots)),
      this.call<{ leaves: LeafEntry[] }>(peer, REPAIR_LEAVES, { ...base, slots }),
    ]);
    const differing = differingEntries(mine, theirs.leaves);
    stats.entries = differing.length;
    let pull = new PointBatch(64);
    let push = new PointBatch(64);
    // One exchange per series: the windows of its differing buckets (adjacent ones joined).
    for (const [series, windows] of windowsBySeries(differing, bucketMs, window)) {
      const [here, there] = await Promise.all([
        this.readWindows(series, windows),
        this.call<{ points: Uint8Array }>(peer, REPAIR_READ, {
          ...base,
          series,
          windows: windows.map((w) => [w.start, w.end]),
        }).then((a) => decodeSamples(a.points)),
      ]);
      const merged = mergeSamples([here, there]);
      append(pull, pointsLacking(series, merged, here));
      if (!this.options.bugs.includes('one-way')) {
        append(push, pointsLacking(series, merged, there));
      }
      if (pull.length >= this.options.batchPoints) {
        stats.pulled += await this.flushPull(pull);
        pull = new PointBatch(64);
      }
      if (push.length >= this.options.batchPoints) {
        stats.pushed += await this.flushPush(push, peer);
        push = new PointBatch(64);
      }
    }
    stats.pulled += await this.flushPull(pull);
    stats.pushed += await this.flushPush(push, peer);
    this.totals.slots += stats.slots;
    this.totals.entries += stats.entries;
    this.totals.pulled += stats.pulled;
    this.totals.pushed += stats.pushed;
    return stats;
  }

  /** The Merkle tree of this node's points of `range` in `window`. */
  async tree(
    range: RangeBounds,
    window: TimeWindow,
    bucketMs: number,
    depth: number,
  ): Promise<MerkleTree> {
    const tree = new MerkleTree(depth);
    for (const key of await this.seriesIn(range)) {
      const s = await this.engine.readRange(key, window.start, window.end);
      forEachBucketDigest(key, s, bucketMs, (bucket, hi, lo) => tree.add(key, bucket, hi, lo));
    }
    return tree.build();
  }

  /** This node's entries of `range` in `window` that fall in `slots`. */
  async leaves(
    range: RangeBounds,
    window: TimeWindow,
    bucketMs: number,
    depth: number,
    slots: ReadonlySet<number>,
  ): Promise<LeafEntry[]> {
    const out: LeafEntry[] = [];
    for (const key of await this.seriesIn(range)) {
      const s = await this.engine.readRange(key, window.start, window.end);
      forEachBucketDigest(key, s, bucketMs, (bucket, hi, lo, count) => {
        if (slots.has(slotOf(key, bucket, depth))) out.push({ series: key, bucket, hi, lo, count });
      });
    }
    return out;
  }

  /** Points of `series` in sorted, disjoint windows, as one sorted run. */
  private async readWindows(series: string, windows: readonly TimeWindow[]): Promise<Samples> {
    const parts: Samples[] = [];
    for (const w of windows) parts.push(await this.engine.readRange(series, w.start, w.end));
    return mergeSamples(parts);
  }

  private async seriesIn(range: RangeBounds): Promise<string[]> {
    const keys = await this.engine.select(ALL_SERIES);
    return keys.filter((k) => rangeContains(range, tokenOf(k))).sort();
  }

  private async flushPull(batch: PointBatch): Promise<number> {
    const n = batch.length;
    if (n === 0) return 0;
    await writeRepair(this.engine, batch);
    return n;
  }

  private async flushPush(batch: PointBatch, peer: string): Promise<number> {
    const n = batch.length;
    if (n === 0) return 0;
    await this.call(peer, REPAIR_WRITE, { batch: encodeBatch(batch) });
    return n;
  }

  private async call<T>(
    peer: string,
    channel: string,
    payload: Record<string, unknown>,
  ): Promise<T> {
    const answer = (await this.env.net.request(
      peer,
      channel,
      { ...payload, epoch: this.metadata.epoch() },
      this.options.timeoutMs,
    )) as T & { epoch?: unknown };
    if (typeof answer.epoch === 'number' && answer.epoch > this.metadata.epoch()) {
      void this.metadata.catchUp(answer.epoch, peer).catch(() => undefined);
    }
    return answer;
  }

  /** Catches up when the sender of a request is ahead. */
  private noteEpoch(from: string, payload: unknown): void {
    const epoch = (payload as { epoch?: unknown } | null)?.epoch;
    if (typeof epoch === 'number' && epoch > this.metadata.epoch()) {
      void this.metadata.catchUp(epoch, from).catch(() => undefined);
    }
  }

  /** Checks a repair request's common fields. */
  private request(
    from: string,
    payload: unknown,
  ): { range: RangeBounds; window: TimeWindow; bucketMs: number; depth: number } {
    this.noteEpoch(from, payload);
    const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<
      string,
      unknown
    >;
    const range = p.range;
    const window = p.window;
    const bucketMs = p.bucketMs ?? this.options.bucketMs;
    const depth = p.depth ?? this.options.depth;
    const bad = (what: string) => new CountError('invalid_body', `repair request: ${what}`);
    if (!Array.isArray(range) || !TOKEN_RE.test(range[0]) || !TOKEN_RE.test(range[1])) {
      throw bad('range must be [startToken, endToken]');
    }
    if (!Array.isArray(window) || typeof window[0] !== 'number' || typeof window[1] !== 'number') {
      throw bad('window must be [start, end]');
    }
    if (typeof bucketMs !== 'number' || !Number.isInteger(bucketMs) || bucketMs < 1) {
      throw bad('bucketMs must be a positive integer');
    }
    if (
      typeof depth !== 'number' ||
      !Number.isInteger(depth) ||
      depth < 0 ||
      depth > MAX_MERKLE_DEPTH
    ) {
      throw bad(`depth must be an integer in [0, ${MAX_MERKLE_DEPTH}]`);
    }
    return {
      range: { start: range[0] as Token, end: range[1] as Token },
      window: { start: window[0], end: window[1] },
      bucketMs,
      depth,
    };
  }
}

/** Most windows one repair.read may name. */
const MAX_READ_WINDOWS = 100_000;

/** Per series, the time windows of its differing buckets within `window`, adjacent ones joined. */
export function windowsBySeries(
  entries: readonly { series: string; bucket: number }[],
  bucketMs: number,
  window: TimeWindow,
): Map<string, TimeWindow[]> {
  const buckets = new Map<string, number[]>();
  for (const e of entries) {
    let list = buckets.get(e.series);
    if (list === undefined) {
      list = [];
      buckets.set(e.series, list);
    }
    list.push(e.bucket);
  }
  const out = new Map<string, TimeWindow[]>();
  for (const [series, list] of [...buckets].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    list.sort((a, b) => a - b);
    const windows: TimeWindow[] = [];
    for (const b of list) {
      const start = Math.max(window.start, b * bucketMs);
      const end = Math.min(window.end, (b + 1) * bucketMs);
      const last = windows[windows.length - 1];
      if (last !== undefined && last.end >= start) last.end = Math.max(last.end, end);
      else windows.push({ start, end });
    }
    out.set(series, windows);
  }
  return out;
}

function checkWindows(raw: unknown, bounds: TimeWindow): TimeWindow[] {
  if (!Array.isArray(raw) || raw.length > MAX_READ_WINDOWS) {
    throw new CountError('invalid_body', `${REPAIR_READ}: windows must be a list of [start, end]`);
  }
  let prevEnd = Number.NEGATIVE_INFINITY;
  return raw.map((w) => {
    if (
      !Array.isArray(w) ||
      typeof w[0] !== 'number' ||
      typeof w[1] !== 'number' ||
      !(w[0] < w[1]) ||
      w[0] < prevEnd ||
      w[0] < bounds.start ||
      w[1] > bounds.end
    ) {
      throw new CountError(
        'invalid_body',
        `${REPAIR_READ}: windows must be sorted, disjoint and inside the window`,
      );
    }
    prevEnd = w[1];
    return { start: w[0], end: w[1] };
  });
}

/** (series, bucket) entries whose digests differ or that only one side has. */
export function differingEntries(
  mine: readonly LeafEntry[],
  theirs: readonly LeafEntry[],
): { series: string; bucket: number }[] {
  const key = (e: { series: string; bucket: number }) => `${e.bucket}\u0000${e.series}`;
  const index = new Map<string, LeafEntry>();
  for (const e of mine) index.set(key(e), e);
  const out: { series: string; bucket: number }[] = [];
  const seen = new Set<string>();
  for (const e of theirs) {
    const k = key(e);
    seen.add(k);
    const m = index.get(k);
    if (m === undefined || m.hi !== e.hi || m.lo !== e.lo)
      out.push({ series: e.series, bucket: e.bucket });
  }
  for (const e of mine) if (!seen.has(key(e))) out.push({ series: e.series, bucket: e.bucket });
  return out;
}

function append(into: PointBatch, from: PointBatch): void {
  for (let i = 0; i < from.length; i++) {
    into.add(from.series[from.seriesIndex[i]], from.timestamps[i], from.values[i]);
  }
}

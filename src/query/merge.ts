import { assert } from '../model/assert.js';
import { convergeValue, EMPTY_SAMPLES, type Samples } from '../model/point.js';

/**
 * Merges sorted parts of one series (head, out-of-order buffer, blocks, replicas) into one
 * sorted stream with one point per timestamp. Points of the same timestamp, within a part or
 * across parts, resolve by the convergence rule (`convergeValue`), so the result does not
 * depend on the order of the parts.
 *
 * Each part must be sorted by timestamp (asserted). The result may share arrays with an input
 * when nothing had to change (one part, or parts that do not overlap in time are concatenated).
 */
export function mergeSamples(parts: readonly Samples[]): Samples {
  const live: Samples[] = [];
  let total = 0;
  let allStrict = true;
  for (const p of parts) {
    const n = p.timestamps.length;
    assert(p.values.length === n, 'mergeSamples: timestamps and values differ in length');
    if (n === 0) continue;
    allStrict = checkSorted(p) && allStrict;
    live.push(p);
    total += n;
  }
  if (live.length === 0) return EMPTY_SAMPLES;
  if (live.length === 1 && allStrict) return live[0];
  if (allStrict) {
    const disjoint = concatIfDisjoint(live, total);
    if (disjoint !== undefined) return disjoint;
  }
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  const n = live.length === 2 ? mergeTwo(live[0], live[1], ts, vs) : mergeHeap(live, ts, vs);
  return n === total
    ? { timestamps: ts, values: vs }
    : { timestamps: ts.slice(0, n), values: vs.slice(0, n) };
}

/** Asserts non-decreasing timestamps; returns true when strictly increasing (no duplicates). */
function checkSorted(p: Samples): boolean {
  const t = p.timestamps;
  let strict = true;
  for (let i = 1; i < t.length; i++) {
    // `>=` is false for NaN, so NaN timestamps fail the assertion too.
    if (t[i] > t[i - 1]) continue;
    assert(
      t[i] === t[i - 1],
      `mergeSamples: part not sorted at index ${i} (${t[i - 1]} then ${t[i]})`,
    );
    strict = false;
  }
  assert(!Number.isNaN(t[0]), 'mergeSamples: NaN timestamp');
  return strict;
}

/** When parts cover disjoint time ranges, their concatenation in time order is the merge. */
function concatIfDisjoint(parts: Samples[], total: number): Samples | undefined {
  const order = parts.slice().sort((a, b) => a.timestamps[0] - b.timestamps[0]);
  for (let k = 1; k < order.length; k++) {
    const prev = order[k - 1].timestamps;
    if (prev[prev.length - 1] >= order[k].timestamps[0]) return undefined;
  }
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  let at = 0;
  for (const p of order) {
    ts.set(p.timestamps, at);
    vs.set(p.values, at);
    at += p.timestamps.length;
  }
  return { timestamps: ts, values: vs };
}

/** Appends (t, v) at `n`, folding into the previous point when the timestamp repeats. */
function push(ts: Float64Array, vs: Float64Array, n: number, t: number, v: number): number {
  if (n > 0 && ts[n - 1] === t) {
    vs[n - 1] = convergeValue(vs[n - 1], v);
    return n;
  }
  ts[n] = t;
  vs[n] = v;
  return n + 1;
}

function mergeTwo(a: Samples, b: Samples, ts: Float64Array, vs: Float64Array): number {
  const at = a.timestamps;
  const av = a.values;
  const bt = b.timestamps;
  const bv = b.values;
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < at.length && j < bt.length) {
    if (at[i] <= bt[j]) {
      n = push(ts, vs, n, at[i], av[i]);
      i++;
    } else {
      n = push(ts, vs, n, bt[j], bv[j]);
      j++;
    }
  }
  for (; i < at.length; i++) n = push(ts, vs, n, at[i], av[i]);
  for (; j < bt.length; j++) n = push(ts, vs, n, bt[j], bv[j]);
  return n;
}

/** k-way merge with a binary min-heap of part indexes keyed by each part's next timestamp. */
function mergeHeap(parts: Samples[], ts: Float64Array, vs: Float64Array): number {
  const k = parts.length;
  const pos = new Int32Array(k);
  // head[p]: the next timestamp of part p, so comparisons touch one array
  const head = new Float64Array(k);
  const heap = new Int32Array(k);
  for (let p = 0; p < k; p++) {
    head[p] = parts[p].timestamps[0];
    heap[p] = p;
  }
  let size = k;
  const siftDown = (from: number) => {
    let i = from;
    const top = heap[i];
    const key = head[top];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      const c = r < size && head[heap[r]] < head[heap[l]] ? r : l;
      if (head[heap[c]] >= key) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = top;
  };
  for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(i);
  let n = 0;
  while (size > 0) {
    const p = heap[0];
    const part = parts[p];
    const at = pos[p]++;
    n = push(ts, vs, n, head[p], part.values[at]);
    if (at + 1 === part.timestamps.length) heap[0] = heap[--size];
    else head[p] = part.timestamps[at + 1];
    if (size > 0) siftDown(0);
  }
  return n;
}

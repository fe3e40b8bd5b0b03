import { assert } from '../model/assert.js';
import { type LabelMatcher, NAME_LABEL, type Selector } from '../model/selector.js';
import { isCanonical, parseSeriesKey } from '../model/series.js';
import { matcherPredicate, validateSelector } from '../query/selectors.js';

/**
 * In-memory inverted index from (label name, value) pairs, `__name__` included, to series.
 * Pure data structure, no I/O: the engine rebuilds it when it opens.
 *
 * Each series gets a numeric ref, handed out in increasing order and never reused while the
 * index lives, so a ref held elsewhere never silently names another series. Postings are
 * arrays of refs; since refs only grow, appending keeps every posting sorted.
 */
export class SeriesIndex {
  private readonly refsByKey = new Map<string, number>();
  private readonly keysByRef: (string | undefined)[] = [];
  /** Per ref: [name, label1, value1, label2, value2, ...], for filtering candidates. */
  private readonly labelsByRef: (string[] | undefined)[] = [];
  /** label name -> value -> sorted refs */
  private readonly postings = new Map<string, Map<string, number[]>>();
  /** label name -> number of series that have it (to pick the cheapest candidate source) */
  private readonly seriesPerLabel = new Map<string, number>();

  get size(): number {
    return this.refsByKey.size;
  }

  /** Adds a canonical key (idempotent) and returns its ref. */
  add(canonicalKey: string): number {
    const existing = this.refsByKey.get(canonicalKey);
    if (existing !== undefined) return existing;
    assert(isCanonical(canonicalKey), `SeriesIndex.add: key is not canonical: ${canonicalKey}`);
    const key = parseSeriesKey(canonicalKey);
    const ref = this.keysByRef.length;
    const flat = [key.name];
    this.addPosting(NAME_LABEL, key.name, ref);
    for (const [ln, lv] of key.labels) {
      flat.push(ln, lv);
      this.addPosting(ln, lv, ref);
    }
    this.keysByRef.push(canonicalKey);
    this.labelsByRef.push(flat);
    this.refsByKey.set(canonicalKey, ref);
    return ref;
  }

  ref(canonicalKey: string): number | undefined {
    return this.refsByKey.get(canonicalKey);
  }

  key(ref: number): string | undefined {
    return this.keysByRef[ref];
  }

  /** Removes a series; false when it was not indexed. Its ref is not reused. */
  remove(canonicalKey: string): boolean {
    const ref = this.refsByKey.get(canonicalKey);
    if (ref === undefined) return false;
    const flat = this.labelsByRef[ref];
    assert(flat !== undefined, 'SeriesIndex.remove: indexed key without labels');
    this.removePosting(NAME_LABEL, flat[0], ref);
    for (let k = 1; k < flat.length; k += 2) this.removePosting(flat[k], flat[k + 1], ref);
    this.refsByKey.delete(canonicalKey);
    this.keysByRef[ref] = undefined;
    this.labelsByRef[ref] = undefined;
    return true;
  }

  /** Canonical keys of indexed series (in the order they were added). */
  keys(): IterableIterator<string> {
    return this.refsByKey.keys();
  }

  /**
   * Canonical keys matching every matcher, sorted (UTF-16 code unit order). Candidates come from
   * the postings of the equality matchers, smallest first; without one, from the union of the
   * postings of one label whose matcher rejects "" (the selector must have one). The remaining
   * matchers then filter the candidates.
   */
  select(selector: Selector): string[] {
    validateSelector(selector);
    const lists: number[][] = [];
    const rest: LabelMatcher[] = [];
    for (const m of selector) {
      if (m.op === '=' && m.value !== '') {
        const p = this.postings.get(m.name)?.get(m.value);
        if (p === undefined) return [];
        lists.push(p);
      } else {
        rest.push(m);
      }
    }
    let candidates: number[];
    if (lists.length > 0) {
      lists.sort((a, b) => a.length - b.length);
      candidates = lists[0];
      for (let k = 1; k < lists.length && candidates.length > 0; k++) {
        candidates = intersect(candidates, lists[k]);
      }
    } else {
      // No equality: scan the values of the rarest label whose matcher rejects "".
      let best = -1;
      let bestCount = Number.POSITIVE_INFINITY;
      for (let k = 0; k < rest.length; k++) {
        if (matcherPredicate(rest[k])('')) continue;
        const count = this.seriesPerLabel.get(rest[k].name) ?? 0;
        if (count < bestCount) {
          best = k;
          bestCount = count;
        }
      }
      assert(best >= 0, 'SeriesIndex.select: validated selector without a selective matcher');
      const m = rest[best];
      rest.splice(best, 1);
      candidates = this.unionMatching(m);
    }
    const out: string[] = [];
    if (rest.length === 0) {
      for (const ref of candidates) out.push(this.keysByRef[ref]!);
    } else {
      const tests = rest.map((m) => memoized(m));
      for (const ref of candidates) {
        const flat = this.labelsByRef[ref]!;
        let ok = true;
        for (let k = 0; ok && k < rest.length; k++) {
          ok = tests[k](labelIn(flat, rest[k].name));
        }
        if (ok) out.push(this.keysByRef[ref]!);
      }
    }
    return out.sort();
  }

  private unionMatching(m: LabelMatcher): number[] {
    const values = this.postings.get(m.name);
    if (values === undefined) return [];
    const test = matcherPredicate(m);
    const hits: number[][] = [];
    let total = 0;
    for (const [value, refs] of values) {
      if (test(value)) {
        hits.push(refs);
        total += refs.length;
      }
    }
    if (hits.length === 1) return hits[0];
    // A series has one value per label, so the postings are disjoint: concatenate and sort.
    const all = new Float64Array(total);
    let at = 0;
    for (const refs of hits) {
      for (const r of refs) all[at++] = r;
    }
    all.sort();
    return Array.from(all);
  }

  private addPosting(name: string, value: string, ref: number): void {
    let values = this.postings.get(name);
    if (values === undefined) {
      values = new Map();
      this.postings.set(name, values);
    }
    const list = values.get(value);
    if (list === undefined) values.set(value, [ref]);
    else {
      assert(list[list.length - 1] < ref, 'SeriesIndex: postings must stay sorted');
      list.push(ref);
    }
    this.seriesPerLabel.set(name, (this.seriesPerLabel.get(name) ?? 0) + 1);
  }

  private removePosting(name: string, value: string, ref: number): void {
    const values = this.postings.get(name);
    const list = values?.get(value);
    assert(values !== undefined && list !== undefined, 'SeriesIndex: missing posting on remove');
    const at = lowerBound(list, ref);
    assert(list[at] === ref, 'SeriesIndex: ref missing from its posting');
    list.splice(at, 1);
    if (list.length === 0) {
      values.delete(value);
      if (values.size === 0) this.postings.delete(name);
    }
    const left = (this.seriesPerLabel.get(name) ?? 0) - 1;
    if (left > 0) this.seriesPerLabel.set(name, left);
    else this.seriesPerLabel.delete(name);
  }
}

function labelIn(flat: string[], name: string): string {
  if (name === NAME_LABEL) return flat[0];
  for (let k = 1; k < flat.length; k += 2) if (flat[k] === name) return flat[k + 1];
  return '';
}

/** A matcher's test with results cached per value for one select call (regexes are costly). */
function memoized(m: LabelMatcher): (value: string) => boolean {
  const test = matcherPredicate(m);
  if (m.op === '=' || m.op === '!=') return test;
  const seen = new Map<string, boolean>();
  return (value) => {
    let r = seen.get(value);
    if (r === undefined) {
      r = test(value);
      seen.set(value, r);
    }
    return r;
  };
}

function lowerBound(list: readonly number[], x: number, from = 0): number {
  let lo = from;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Intersection of two sorted ref lists; binary search when one is much longer. */
function intersect(small: readonly number[], large: readonly number[]): number[] {
  const out: number[] = [];
  if (large.length > 16 * small.length) {
    let from = 0;
    for (const x of small) {
      from = lowerBound(large, x, from);
      if (from === large.length) break;
      if (large[from] === x) out.push(x);
    }
    return out;
  }
  let i = 0;
  let j = 0;
  while (i < small.length && j < large.length) {
    const a = small[i];
    const b = large[j];
    if (a === b) {
      out.push(a);
      i++;
      j++;
    } else if (a < b) i++;
    else j++;
  }
  return out;
}

import { assert } from './assert.js';

/**
 * A validated batch of points in column form, the unit the write path moves around.
 * Series keys are canonical (see series.ts) and interned per batch, so a batch of 10,000
 * points over 100 series holds 100 strings, not 10,000.
 *
 * Build one with `add`; everything added must already be validated (keys canonical,
 * timestamps integer in range, values numbers).
 */
export class PointBatch {
  /** Canonical series keys; `seriesIndex[i]` points into this array. */
  readonly series: string[] = [];
  private readonly seriesIds = new Map<string, number>();
  seriesIndex: Uint32Array;
  timestamps: Float64Array;
  values: Float64Array;
  length = 0;

  constructor(capacity = 64) {
    const cap = Math.max(1, capacity);
    this.seriesIndex = new Uint32Array(cap);
    this.timestamps = new Float64Array(cap);
    this.values = new Float64Array(cap);
  }

  /** Interns a canonical key and returns its index in `series`. */
  seriesId(canonicalKey: string): number {
    let id = this.seriesIds.get(canonicalKey);
    if (id === undefined) {
      id = this.series.length;
      this.series.push(canonicalKey);
      this.seriesIds.set(canonicalKey, id);
    }
    return id;
  }

  add(canonicalKey: string, timestamp: number, value: number): void {
    this.addById(this.seriesId(canonicalKey), timestamp, value);
  }

  addById(seriesId: number, timestamp: number, value: number): void {
    assert(seriesId < this.series.length, 'PointBatch.addById: unknown series id');
    if (this.length === this.timestamps.length) this.grow();
    const i = this.length++;
    this.seriesIndex[i] = seriesId;
    this.timestamps[i] = timestamp;
    this.values[i] = value;
  }

  private grow(): void {
    const cap = this.timestamps.length * 2;
    const si = new Uint32Array(cap);
    si.set(this.seriesIndex);
    const ts = new Float64Array(cap);
    ts.set(this.timestamps);
    const vs = new Float64Array(cap);
    vs.set(this.values);
    this.seriesIndex = si;
    this.timestamps = ts;
    this.values = vs;
  }
}

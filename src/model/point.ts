import { CountError } from './errors.js';

/** Largest timestamp + 1: timestamps are integer ms with 0 <= t < 2^53. */
export const MAX_TIMESTAMP_EXCLUSIVE = 2 ** 53;

export interface DataPoint {
  timestamp: number;
  value: number;
}

/**
 * Points of one series in column form, sorted by timestamp with no duplicates.
 * `timestamps.length === values.length`.
 */
export interface Samples {
  timestamps: Float64Array;
  values: Float64Array;
}

export const EMPTY_SAMPLES: Samples = Object.freeze({
  timestamps: new Float64Array(0),
  values: new Float64Array(0),
});

export function isValidTimestamp(t: unknown): t is number {
  return typeof t === 'number' && Number.isInteger(t) && t >= 0 && t < MAX_TIMESTAMP_EXCLUSIVE;
}

export function validateTimestamp(t: unknown, field = 'timestamp'): number {
  if (!isValidTimestamp(t)) {
    throw new CountError(
      'invalid_timestamp',
      `${field} must be an integer number of milliseconds with 0 <= t < 2^53, got ${describe(t)}`,
      { field },
    );
  }
  return t;
}

export function validateValue(v: unknown, field = 'value'): number {
  if (typeof v !== 'number') {
    throw new CountError('invalid_value', `${field} must be a number, got ${describe(v)}`, {
      field,
    });
  }
  return v;
}

function describe(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}...` : x);
  if (typeof x === 'number') return String(x);
  if (x === null) return 'null';
  return typeof x;
}

// Scratch views for bit-level comparison without allocation.
const scratch = new Float64Array(2);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * The convergence rule (DESIGN.md): two writes of the same series and timestamp resolve to the
 * larger value, NaN counting as the smallest. Ties that compare equal as numbers (+0/-0, two
 * NaNs with different payloads) are broken by the raw bit pattern, so every replica picks the
 * same bits whatever order the writes arrived in. The rule is commutative, associative and
 * idempotent.
 */
export function convergeValue(a: number, b: number): number {
  if (a > b) return a;
  if (b > a) return b;
  const aNaN = Number.isNaN(a);
  const bNaN = Number.isNaN(b);
  if (aNaN !== bNaN) return aNaN ? b : a;
  // Equal numbers: only +0 and -0 differ in bits; +0 is the larger.
  if (!aNaN) return Object.is(a, -0) ? b : a;
  // Both NaN: order the payloads by bits, high word then low word.
  scratch[0] = a;
  scratch[1] = b;
  // little-endian: [0]=lo(a) [1]=hi(a) [2]=lo(b) [3]=hi(b)
  const ahi = scratchBits[1];
  const bhi = scratchBits[3];
  if (ahi !== bhi) return ahi > bhi ? a : b;
  return scratchBits[0] >= scratchBits[2] ? a : b;
}

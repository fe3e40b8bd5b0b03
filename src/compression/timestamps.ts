import { assert } from '../model/assert.js';
import { MAX_TIMESTAMP_EXCLUSIVE } from '../model/point.js';
import { type BitReader, type BitWriter, bitLength, corruptData } from './bit-io.js';
import { CHUNK_COUNT_BITS, MAX_CHUNK_POINTS } from './limits.js';
import { bestRiceParameter, readRice, writeRice } from './rice.js';

/**
 * Timestamp codec: delta-of-delta (dod), as in Gorilla, with two changes for millisecond data.
 *
 * 1. Runs of zero dod (a regular interval) are run-length coded: a steady series costs a few
 *    bits per run instead of Gorilla's one bit per point.
 * 2. Nonzero dods use Gorilla's prefix ladder ('0', '10', '110', '1110', '1111'), but the bucket
 *    widths are picked per chunk (b, b+s, b+2s, b+4s, 53), so both a few ms of jitter and
 *    irregular arrivals spanning seconds land in a bucket that fits them.
 *
 * Stream (nothing for a single point; the first timestamp is the chunk's minTime):
 *   k: 5 bits (Rice parameter of run lengths), b: 6 bits, s - 1: 3 bits
 *   tokens, from the second point on:  run dod  run dod ...  [run]
 *     run: '1' means no zero dod before the next nonzero one; '0' + Rice_k(r - 1) means r of
 *          them (a run that reaches the end of the chunk ends the stream)
 *     dod: bucket prefix, a sign bit (1 = negative), then |dod| - 1 in the bucket's width
 * The delta before the first point counts as 0, so the first dod is the first delta.
 */

const MAX_WIDTH = 53;
const PREFIX_BITS = [1, 2, 3, 4, 4];
const PREFIX_CODES = [0b0, 0b10, 0b110, 0b1110, 0b1111];
const MAX_STEP = 8;

const histogram = new Float64Array(MAX_WIDTH + 1);
const widths = new Int32Array(5);
let runsBefore = new Float64Array(1024);
let dods = new Float64Array(1024);
let runLengths = new Float64Array(1024);

function ensureScratch(n: number): void {
  if (dods.length >= n) return;
  const size = Math.min(MAX_CHUNK_POINTS, Math.max(n, dods.length * 2));
  runsBefore = new Float64Array(size);
  dods = new Float64Array(size);
  runLengths = new Float64Array(size);
}

function setWidths(b: number, s: number): void {
  widths[0] = Math.min(b, MAX_WIDTH);
  widths[1] = Math.min(b + s, MAX_WIDTH);
  widths[2] = Math.min(b + 2 * s, MAX_WIDTH);
  widths[3] = Math.min(b + 4 * s, MAX_WIDTH);
  widths[4] = MAX_WIDTH;
}

function bucketOf(length: number): number {
  let i = 0;
  while (widths[i] < length) i++;
  return i;
}

/** Picks (b, s) with the fewest bits for the magnitudes in `histogram` (by bit length). */
function chooseBuckets(): { b: number; s: number } {
  let maxLength = 0;
  for (let l = 0; l <= MAX_WIDTH; l++) if (histogram[l] > 0) maxLength = l;
  let best = Number.POSITIVE_INFINITY;
  let bestB = 0;
  let bestS = 1;
  for (let b = 0; b <= maxLength; b++) {
    for (let s = 1; s <= MAX_STEP; s++) {
      setWidths(b, s);
      let bits = 0;
      for (let l = 0; l <= maxLength; l++) {
        const c = histogram[l];
        if (c === 0) continue;
        const i = bucketOf(l);
        bits += c * (PREFIX_BITS[i] + 1 + widths[i]);
      }
      if (bits < best) {
        best = bits;
        bestB = b;
        bestS = s;
      }
    }
  }
  return { b: bestB, s: bestS };
}

/**
 * Writes timestamps[start..end): strictly ascending integers in [0, 2^53). The first one is
 * not written (it is the chunk header's minTime).
 */
export function encodeTimestamps(
  w: BitWriter,
  timestamps: Float64Array,
  start: number,
  end: number,
): void {
  const n = end - start;
  assert(n >= 1 && n <= MAX_CHUNK_POINTS, 'encodeTimestamps: point count out of range');
  let prev = timestamps[start];
  assert(
    Number.isInteger(prev) && prev >= 0 && prev < MAX_TIMESTAMP_EXCLUSIVE,
    'encodeTimestamps: timestamp out of range',
  );
  if (n === 1) return;
  ensureScratch(n);
  histogram.fill(0);
  let prevDelta = 0;
  let run = 0;
  let tokens = 0;
  let runCount = 0;
  for (let i = start + 1; i < end; i++) {
    const t = timestamps[i];
    assert(
      Number.isInteger(t) && t > prev && t < MAX_TIMESTAMP_EXCLUSIVE,
      'encodeTimestamps: timestamps must be strictly ascending integers in [0, 2^53)',
    );
    const delta = t - prev;
    prev = t;
    const dod = delta - prevDelta;
    prevDelta = delta;
    if (dod === 0) {
      run++;
      continue;
    }
    runsBefore[tokens] = run;
    dods[tokens] = dod;
    tokens++;
    if (run > 0) runLengths[runCount++] = run - 1;
    run = 0;
    histogram[bitLength(Math.abs(dod) - 1)]++;
  }
  const trailing = run;
  if (trailing > 0) runLengths[runCount++] = trailing - 1;
  const { k } = bestRiceParameter(runLengths, runCount, CHUNK_COUNT_BITS);
  const { b, s } = chooseBuckets();
  setWidths(b, s);
  w.writeBits(k, 5);
  w.writeBits(b, 6);
  w.writeBits(s - 1, 3);
  for (let j = 0; j < tokens; j++) {
    const r = runsBefore[j];
    if (r === 0) w.writeBit(1);
    else {
      w.writeBit(0);
      writeRice(w, r - 1, k, CHUNK_COUNT_BITS);
    }
    const dod = dods[j];
    const magnitude = Math.abs(dod) - 1;
    const i = bucketOf(bitLength(magnitude));
    w.writeBits(PREFIX_CODES[i], PREFIX_BITS[i]);
    w.writeBit(dod < 0 ? 1 : 0);
    w.writeBitsLong(magnitude, widths[i]);
  }
  if (trailing > 0) {
    w.writeBit(0);
    writeRice(w, trailing - 1, k, CHUNK_COUNT_BITS);
  }
}

/**
 * Reads `count` timestamps into out[offset..offset+count). Throws corrupt_data unless they are
 * strictly ascending and end at maxTime.
 */
export function decodeTimestamps(
  r: BitReader,
  count: number,
  minTime: number,
  maxTime: number,
  out: Float64Array,
  offset: number,
): void {
  let o = offset;
  let t = minTime;
  out[o++] = t;
  if (count === 1) {
    if (maxTime !== minTime) throw corruptData('one point but minTime != maxTime');
    return;
  }
  const k = r.readBits(5);
  const b = r.readBits(6);
  const s = r.readBits(3) + 1;
  if (k > CHUNK_COUNT_BITS || b > MAX_WIDTH) throw corruptData('bad timestamp parameters');
  const w0 = Math.min(b, MAX_WIDTH);
  const w1 = Math.min(b + s, MAX_WIDTH);
  const w2 = Math.min(b + 2 * s, MAX_WIDTH);
  const w3 = Math.min(b + 4 * s, MAX_WIDTH);
  const end = offset + count;
  let d = 0;
  while (o < end) {
    if (r.readBit() === 0) {
      const run = readRice(r, k, CHUNK_COUNT_BITS) + 1;
      if (run > end - o) throw corruptData('timestamp run past the end of the chunk');
      if (d <= 0) throw corruptData('timestamps not ascending');
      for (let j = 0; j < run; j++) {
        t += d;
        out[o++] = t;
      }
      if (o === end) break;
    }
    // bucket prefix: up to four one bits, ended by a zero bit unless it is the fifth bucket
    let ones = 0;
    while (ones < 4 && r.readBit() === 1) ones++;
    const width = ones === 0 ? w0 : ones === 1 ? w1 : ones === 2 ? w2 : ones === 3 ? w3 : MAX_WIDTH;
    const negative = r.readBit();
    const magnitude = r.readBitsLong(width) + 1;
    d += negative === 1 ? -magnitude : magnitude;
    if (d <= 0) throw corruptData('timestamps not ascending');
    t += d;
    out[o++] = t;
  }
  if (t !== maxTime) throw corruptData('last timestamp differs from the header');
}

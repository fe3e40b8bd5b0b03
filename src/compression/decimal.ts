import { type BitReader, type BitWriter, bitLength, corruptData } from './bit-io.js';
import { MAX_CHUNK_POINTS } from './limits.js';
import { bestRiceParameter, readRice, writeRice } from './rice.js';

/**
 * Codec for values that are decimals with few digits (2.75, 1013.2, counters): each value is
 * m / 10^scale for an integer m, exactly (decoding computes m / 10^scale, which IEEE division
 * rounds to the same float64). The integers are delta coded; the deltas are written in the
 * cheapest of three forms for the chunk:
 *   zigzag + Rice(k)         deltas centred on 0 (random walks)
 *   (delta - min) + Rice(k)  one-sided deltas with a peak near the minimum
 *   (delta - min) truncated binary over the range max - min + 1: a bit-packing that spends
 *                            ceil(log2 R) or one bit fewer per point (uniform increments)
 * Deltas are first divided by their greatest common divisor (values in steps of 0.25, byte
 * counts in whole kilobytes).
 * Stream: scale (5 bits), m0 (sign + varuint), then for two or more points: form (2 bits),
 * divisor - 1 (varuint), [min delta (sign + varuint)], then k (6 bits) and the escape width
 * (6 bits), or R - 1 (varuint), then one code per delta.
 */

export const MAX_DECIMAL_SCALE = 22; // 10^22 is the largest power of ten a float64 holds exactly
/** |m| stays below this, so deltas and their zigzag codes are exact integers below 2^53. */
const MAX_MAGNITUDE = 2 ** 51;

const FORM_ZIGZAG = 0;
const FORM_OFFSET_RICE = 1;
const FORM_OFFSET_PACKED = 2;

const POW10: Float64Array = (() => {
  const p = new Float64Array(MAX_DECIMAL_SCALE + 1);
  for (let i = 0; i <= MAX_DECIMAL_SCALE; i++) p[i] = 10 ** i;
  return p;
})();

/**
 * The smallest scale at which every value is exactly m / 10^scale with |m| < 2^51, or -1.
 * -0, NaN and infinities never qualify (they go to another codec).
 */
export function decimalScale(values: Float64Array, start: number, end: number): number {
  for (let s = 0; s <= MAX_DECIMAL_SCALE; s++) {
    const p = POW10[s];
    let ok = true;
    for (let i = start; i < end; i++) {
      const v = values[i];
      const m = Math.round(v * p) + 0; // + 0 turns -0 into 0, so -0 fails the check below
      if (!(Math.abs(m) < MAX_MAGNITUDE) || !Object.is(m / p, v)) {
        ok = false;
        break;
      }
    }
    if (ok) return s;
  }
  return -1;
}

let codes = new Float64Array(1024);
let offsets = new Float64Array(1024);

function ensureScratch(n: number): void {
  if (codes.length >= n) return;
  const size = Math.min(MAX_CHUNK_POINTS, Math.max(n, codes.length * 2));
  codes = new Float64Array(size);
  offsets = new Float64Array(size);
}

function writeSigned(w: BitWriter, v: number): void {
  w.writeBit(v < 0 ? 1 : 0);
  w.writeVarUint(Math.abs(v));
}

function readSigned(r: BitReader): number {
  const negative = r.readBit();
  const v = r.readVarUint();
  return negative === 1 ? -v : v;
}

/** Bits of truncated binary codes of values[0..count) over the range [0, range). */
function packedCost(values: Float64Array, count: number, range: number): number {
  const width = bitLength(range - 1);
  if (width === 0) return 0;
  const short = 2 ** width - range; // this many values take one bit fewer
  let bits = count * width;
  for (let i = 0; i < count; i++) if (values[i] < short) bits--;
  return bits;
}

/** How encodeDecimal will write a chunk's values, and the exact size of that stream. */
export interface DecimalPlan {
  scale: number;
  form: number;
  /** Smallest delta (offset forms). */
  minDelta: number;
  /** Rice parameter and escape width (Rice forms). */
  k: number;
  rawWidth: number;
  /** max delta - min delta + 1 (packed form). */
  range: number;
  /** The greatest common divisor of the deltas; the stream holds delta / divisor. */
  divisor: number;
  bits: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b; // exact on integers below 2^53
    a = b;
    b = t;
  }
  return a;
}

function signedBits(v: number): number {
  return 1 + 6 + bitLength(Math.abs(v));
}

/**
 * Plans the decimal stream of values[start..end): null unless every value is a short decimal
 * (see decimalScale), else the cheapest form with its parameters and total bits.
 */
export function planDecimal(values: Float64Array, start: number, end: number): DecimalPlan | null {
  const scale = decimalScale(values, start, end);
  if (scale < 0) return null;
  const n = end - start;
  const p = POW10[scale];
  let prev = Math.round(values[start] * p) + 0;
  const head = 5 + signedBits(prev);
  const plan: DecimalPlan = {
    scale,
    form: FORM_ZIGZAG,
    minDelta: 0,
    k: 0,
    rawWidth: 0,
    range: 1,
    divisor: 1,
    bits: head,
  };
  if (n === 1) return plan;
  ensureScratch(n);
  const count = n - 1;
  for (let i = 0; i < count; i++) {
    const m = Math.round(values[start + i + 1] * p);
    offsets[i] = m - prev;
    prev = m;
  }
  // Steps of 0.5 or 0.25, or counters in whole kilobytes, have a common divisor to drop.
  let divisor = 0;
  for (let i = 0; i < count && divisor !== 1; i++) divisor = gcd(Math.abs(offsets[i]), divisor);
  if (divisor === 0) divisor = 1; // every delta is 0
  let minDelta = Number.POSITIVE_INFINITY;
  let maxDelta = Number.NEGATIVE_INFINITY;
  let maxCode = 0;
  for (let i = 0; i < count; i++) {
    const delta = offsets[i] / divisor;
    const code = delta >= 0 ? 2 * delta : -2 * delta - 1;
    codes[i] = code;
    offsets[i] = delta;
    if (code > maxCode) maxCode = code;
    if (delta < minDelta) minDelta = delta;
    if (delta > maxDelta) maxDelta = delta;
  }
  for (let i = 0; i < count; i++) offsets[i] -= minDelta;
  const codeWidth = bitLength(maxCode);
  const range = maxDelta - minDelta + 1;
  const offsetWidth = bitLength(range - 1);
  const zigzag = bestRiceParameter(codes, count, codeWidth);
  const offsetRice = bestRiceParameter(offsets, count, offsetWidth);
  const formHead = 2 + 6 + bitLength(divisor - 1);
  const zigzagBits = formHead + 12 + zigzag.bits;
  const offsetRiceBits = formHead + signedBits(minDelta) + 12 + offsetRice.bits;
  const packedBits =
    formHead + signedBits(minDelta) + 6 + offsetWidth + packedCost(offsets, count, range);
  plan.minDelta = minDelta + 0;
  plan.range = range;
  plan.divisor = divisor;
  if (packedBits <= zigzagBits && packedBits <= offsetRiceBits) {
    plan.form = FORM_OFFSET_PACKED;
    plan.bits += packedBits;
  } else if (zigzagBits <= offsetRiceBits) {
    plan.form = FORM_ZIGZAG;
    plan.k = zigzag.k;
    plan.rawWidth = codeWidth;
    plan.bits += zigzagBits;
  } else {
    plan.form = FORM_OFFSET_RICE;
    plan.k = offsetRice.k;
    plan.rawWidth = offsetWidth;
    plan.bits += offsetRiceBits;
  }
  return plan;
}

/** Writes values[start..end) as planDecimal planned them (exactly plan.bits bits). */
export function encodeDecimal(
  w: BitWriter,
  values: Float64Array,
  start: number,
  end: number,
  plan: DecimalPlan,
): void {
  const p = POW10[plan.scale];
  const first = Math.round(values[start] * p) + 0;
  w.writeBits(plan.scale, 5);
  writeSigned(w, first);
  if (end - start === 1) return;
  const { form, minDelta, k, rawWidth, range, divisor: g } = plan;
  w.writeBits(form, 2);
  w.writeVarUint(g - 1);
  if (form !== FORM_ZIGZAG) writeSigned(w, minDelta);
  if (form === FORM_OFFSET_PACKED) {
    w.writeVarUint(range - 1);
    writePacked(w, values, start, end, p, g, minDelta, range);
    return;
  }
  w.writeBits(k, 6);
  w.writeBits(rawWidth, 6);
  if (form === FORM_ZIGZAG) writeZigzagRice(w, values, start, end, p, g, k, rawWidth);
  else writeOffsetRice(w, values, start, end, p, g, minDelta, k, rawWidth);
}

// One small function per form: V8 inlines the bit writer into each loop, where one loop with
// three forms grew too big to inline and boxed a double per call.

function writeZigzagRice(
  w: BitWriter,
  values: Float64Array,
  start: number,
  end: number,
  p: number,
  g: number,
  k: number,
  rawWidth: number,
): void {
  let prev = Math.round(values[start] * p);
  for (let i = start + 1; i < end; i++) {
    const m = Math.round(values[i] * p);
    const delta = (m - prev) / g;
    prev = m;
    writeRice(w, delta >= 0 ? 2 * delta : -2 * delta - 1, k, rawWidth);
  }
}

function writeOffsetRice(
  w: BitWriter,
  values: Float64Array,
  start: number,
  end: number,
  p: number,
  g: number,
  minDelta: number,
  k: number,
  rawWidth: number,
): void {
  let prev = Math.round(values[start] * p);
  for (let i = start + 1; i < end; i++) {
    const m = Math.round(values[i] * p);
    writeRice(w, (m - prev) / g - minDelta, k, rawWidth);
    prev = m;
  }
}

function writePacked(
  w: BitWriter,
  values: Float64Array,
  start: number,
  end: number,
  p: number,
  g: number,
  minDelta: number,
  range: number,
): void {
  const width = bitLength(range - 1);
  if (width === 0) return; // every delta is minDelta: nothing to write
  const short = 2 ** width - range;
  let prev = Math.round(values[start] * p);
  for (let i = start + 1; i < end; i++) {
    const m = Math.round(values[i] * p);
    const x = (m - prev) / g - minDelta;
    prev = m;
    if (x < short) w.writeBitsLong(x, width - 1);
    else w.writeBitsLong(x + short, width);
  }
}

export function decodeDecimal(
  r: BitReader,
  out: Float64Array,
  offset: number,
  count: number,
): void {
  const scale = r.readBits(5);
  if (scale > MAX_DECIMAL_SCALE) throw corruptData(`decimal scale ${scale}`);
  const p = POW10[scale];
  const first = readSigned(r);
  out[offset] = first / p;
  if (count === 1) return;
  const form = r.readBits(2);
  const g = r.readVarUint() + 1;
  if (form === FORM_OFFSET_PACKED) {
    const minDelta = readSigned(r);
    const range = r.readVarUint() + 1;
    readPacked(r, out, offset, count, p, first, g, minDelta, range);
    return;
  }
  if (form === FORM_ZIGZAG) {
    const k = r.readBits(6);
    const rawWidth = r.readBits(6);
    if (k > 53 || rawWidth > 53) throw corruptData('bad decimal parameters');
    readZigzagRice(r, out, offset, count, p, first, g, k, rawWidth);
    return;
  }
  if (form === FORM_OFFSET_RICE) {
    const minDelta = readSigned(r);
    const k = r.readBits(6);
    const rawWidth = r.readBits(6);
    if (k > 53 || rawWidth > 53) throw corruptData('bad decimal parameters');
    readOffsetRice(r, out, offset, count, p, first, g, minDelta, k, rawWidth);
    return;
  }
  throw corruptData(`unknown decimal form ${form}`);
}

function readZigzagRice(
  r: BitReader,
  out: Float64Array,
  offset: number,
  count: number,
  p: number,
  first: number,
  g: number,
  k: number,
  rawWidth: number,
): void {
  let m = first;
  for (let o = offset + 1, end = offset + count; o < end; o++) {
    const z = readRice(r, k, rawWidth);
    // z & 1 is the parity even above 2^32: ToInt32 keeps the low bit
    m += g * ((z & 1) === 0 ? z / 2 : -(z + 1) / 2);
    out[o] = m / p;
  }
}

function readOffsetRice(
  r: BitReader,
  out: Float64Array,
  offset: number,
  count: number,
  p: number,
  first: number,
  g: number,
  minDelta: number,
  k: number,
  rawWidth: number,
): void {
  let m = first;
  for (let o = offset + 1, end = offset + count; o < end; o++) {
    m += g * (minDelta + readRice(r, k, rawWidth));
    out[o] = m / p;
  }
}

function readPacked(
  r: BitReader,
  out: Float64Array,
  offset: number,
  count: number,
  p: number,
  first: number,
  g: number,
  minDelta: number,
  range: number,
): void {
  const width = bitLength(range - 1);
  const short = 2 ** width - range;
  let m = first;
  const end = offset + count;
  if (width === 0) {
    for (let o = offset + 1; o < end; o++) {
      m += g * minDelta;
      out[o] = m / p;
    }
    return;
  }
  const shortWidth = width - 1;
  if (shortWidth <= 32) {
    for (let o = offset + 1; o < end; o++) {
      let x = r.readBits(shortWidth);
      if (x >= short) x = 2 * x + r.readBit() - short;
      m += g * (minDelta + x);
      out[o] = m / p;
    }
    return;
  }
  for (let o = offset + 1; o < end; o++) {
    let x = r.readBitsLong(shortWidth);
    if (x >= short) x = 2 * x + r.readBit() - short;
    m += g * (minDelta + x);
    out[o] = m / p;
  }
}

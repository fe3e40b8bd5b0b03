import { type BitReader, type BitWriter, corruptData } from './bit-io.js';
import { HI, LO, wordsOf } from './float-words.js';

/**
 * Gorilla's XOR value codec, on the two 32-bit halves of each float64 (no BigInt). Each value
 * is XORed with the previous one:
 *   '0'                      same bits as the previous value
 *   '10' + bits              the meaningful bits fit in the previous window (same leading and
 *                            trailing zero counts or more) and a new window would not be
 *                            smaller: only the window is written
 *   '11' + 5 + 6 + bits      new window: leading zeros (capped at 31), meaningful length - 1,
 *                            then the meaningful bits
 * The first value is written raw (64 bits). Every bit pattern round-trips (NaN payloads, -0).
 */

function trailingZeros(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * Whether to write the XOR in the previous window (lead, trail) rather than open a new one
 * for (l, t). Gorilla reuses any window the bits fit in; a wide window then sticks and costs
 * every later value its width, so here a new window is opened once it is smaller by more than
 * its 11-bit header.
 */
function reuseWindow(lead: number, trail: number, l: number, t: number): boolean {
  if (lead < 0 || l < lead || t < trail) return false;
  return 64 - lead - trail <= 11 + 64 - Math.min(l, 31) - t;
}

/** Writes the low n bits (1 <= n <= 64) of (hi:lo) >>> shift. */
function writeShifted(w: BitWriter, hi: number, lo: number, shift: number, n: number): void {
  let h: number;
  let l: number;
  if (shift === 0) {
    h = hi;
    l = lo;
  } else if (shift < 32) {
    l = (lo >>> shift) | (hi << (32 - shift));
    h = hi >>> shift;
  } else {
    l = hi >>> (shift - 32);
    h = 0;
  }
  if (n > 32) {
    w.writeBits(h, n - 32);
    w.writeBits(l, 32);
  } else w.writeBits(l, n);
}

export function encodeXor(w: BitWriter, values: Float64Array, start: number, end: number): void {
  const words = wordsOf(values);
  let prevHi = words[2 * start + HI];
  let prevLo = words[2 * start + LO];
  w.writeBits(prevHi, 32);
  w.writeBits(prevLo, 32);
  let lead = -1; // no window yet
  let trail = 0;
  for (let i = start + 1; i < end; i++) {
    const hi = words[2 * i + HI];
    const lo = words[2 * i + LO];
    const xh = hi ^ prevHi;
    const xl = lo ^ prevLo;
    prevHi = hi;
    prevLo = lo;
    if (xh === 0 && xl === 0) {
      w.writeBit(0);
      continue;
    }
    const l = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const t = xl !== 0 ? trailingZeros(xl) : 32 + trailingZeros(xh);
    if (reuseWindow(lead, trail, l, t)) {
      w.writeBits(0b10, 2);
      writeShifted(w, xh, xl, trail, 64 - lead - trail);
    } else {
      lead = Math.min(l, 31);
      trail = t;
      const meaningful = 64 - lead - trail;
      w.writeBits(0b11, 2);
      w.writeBits(lead, 5);
      w.writeBits(meaningful - 1, 6);
      writeShifted(w, xh, xl, trail, meaningful);
    }
  }
}

/**
 * Exact size in bits of what encodeXor writes for values[start..end), or +Infinity as soon as
 * it passes `budget` (the encoder only needs to know whether XOR beats the other codecs).
 */
export function measureXor(
  values: Float64Array,
  start: number,
  end: number,
  budget = Number.POSITIVE_INFINITY,
): number {
  const words = wordsOf(values);
  let prevHi = words[2 * start + HI];
  let prevLo = words[2 * start + LO];
  let bits = 64;
  let lead = -1;
  let trail = 0;
  for (let i = start + 1; i < end; i++) {
    const hi = words[2 * i + HI];
    const lo = words[2 * i + LO];
    const xh = hi ^ prevHi;
    const xl = lo ^ prevLo;
    prevHi = hi;
    prevLo = lo;
    if (xh === 0 && xl === 0) {
      bits += 1;
      continue;
    }
    const l = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const t = xl !== 0 ? trailingZeros(xl) : 32 + trailingZeros(xh);
    if (reuseWindow(lead, trail, l, t)) bits += 2 + 64 - lead - trail;
    else {
      lead = Math.min(l, 31);
      trail = t;
      bits += 2 + 5 + 6 + 64 - lead - trail;
    }
    if (bits > budget) return Number.POSITIVE_INFINITY;
  }
  return bits;
}

export function decodeXor(r: BitReader, out: Float64Array, offset: number, count: number): void {
  const ws = wordsOf(out);
  let hi = r.readBits(32);
  let lo = r.readBits(32);
  let o = offset * 2;
  ws[o + HI] = hi;
  ws[o + LO] = lo;
  let lead = -1;
  let trail = 0;
  let meaningful = 0;
  for (let i = 1; i < count; i++) {
    o += 2;
    if (r.readBit() === 1) {
      if (r.readBit() === 1) {
        lead = r.readBits(5);
        meaningful = r.readBits(6) + 1;
        if (lead + meaningful > 64) throw corruptData('XOR window wider than 64 bits');
        trail = 64 - lead - meaningful;
      } else if (lead < 0) throw corruptData('XOR window reused before one was set');
      let vh = 0;
      let vl: number;
      if (meaningful > 32) {
        vh = r.readBits(meaningful - 32);
        vl = r.readBits(32);
      } else vl = r.readBits(meaningful);
      if (trail === 0) {
        hi ^= vh;
        lo ^= vl;
      } else if (trail < 32) {
        hi ^= (vh << trail) | (vl >>> (32 - trail));
        lo ^= vl << trail;
      } else hi ^= vl << (trail - 32);
    }
    ws[o + HI] = hi;
    ws[o + LO] = lo;
  }
}

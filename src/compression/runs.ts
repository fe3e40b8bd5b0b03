import { type BitReader, type BitWriter, bitLength, corruptData } from './bit-io.js';
import { HI, LO, wordsOf } from './float-words.js';
import { CHUNK_COUNT_BITS } from './limits.js';

/**
 * Constant-run value codec: the values as runs of one bit pattern, each run its length and its
 * value. A constant series is one run and costs 65 bits whatever the chunk's length; a gauge
 * that changes a few times a day costs 64 bits and an Elias-gamma length per change.
 * Stream: runs (varuint); per run: length in Elias gamma (not for the last run, whose length is
 * what is left), then the value raw, high word first.
 */

function gammaBits(x: number): number {
  return 2 * bitLength(x) - 1;
}

export interface RunsMeasure {
  runs: number;
  /** Exact size of the stream encodeRuns writes. */
  bits: number;
}

/** Counts the runs of identical bit patterns in values[start..end) and the bits they take. */
export function measureRuns(values: Float64Array, start: number, end: number): RunsMeasure {
  const words = wordsOf(values);
  let hi = words[2 * start + HI];
  let lo = words[2 * start + LO];
  let runs = 1;
  let runStart = start;
  let bits = 64;
  for (let i = start + 1; i < end; i++) {
    if (words[2 * i + HI] === hi && words[2 * i + LO] === lo) continue;
    hi = words[2 * i + HI];
    lo = words[2 * i + LO];
    bits += gammaBits(i - runStart) + 64;
    runStart = i;
    runs++;
  }
  return { runs, bits: bits + 6 + bitLength(runs) };
}

export function encodeRuns(w: BitWriter, values: Float64Array, start: number, end: number): void {
  const words = wordsOf(values);
  const { runs } = measureRuns(values, start, end);
  w.writeVarUint(runs);
  let runStart = start;
  for (let i = start + 1; i <= end; i++) {
    const hi = words[2 * runStart + HI];
    const lo = words[2 * runStart + LO];
    if (i < end && words[2 * i + HI] === hi && words[2 * i + LO] === lo) continue;
    if (i < end) {
      const length = i - runStart;
      const l = bitLength(length);
      w.writeBits(0, l - 1);
      w.writeBitsLong(length, l);
    }
    w.writeBits(hi, 32);
    w.writeBits(lo, 32);
    runStart = i;
  }
}

export function decodeRuns(r: BitReader, out: Float64Array, offset: number, count: number): void {
  const words = wordsOf(out);
  const runs = r.readVarUint();
  if (runs < 1 || runs > count) throw corruptData(`${runs} value runs for ${count} points`);
  let o = offset;
  const end = offset + count;
  for (let j = 0; j < runs; j++) {
    let length = end - o - (runs - 1 - j);
    if (j < runs - 1) {
      const zeros = r.readZeroRun(CHUNK_COUNT_BITS + 1);
      if (zeros > CHUNK_COUNT_BITS) throw corruptData('value run length too long');
      const coded = 2 ** zeros + r.readBits(zeros);
      if (coded > length) throw corruptData('value runs longer than the chunk');
      length = coded;
    }
    const hi = r.readBits(32);
    const lo = r.readBits(32);
    for (const stop = o + length; o < stop; o++) {
      words[2 * o + HI] = hi;
      words[2 * o + LO] = lo;
    }
  }
}

/**
 * A float64 column seen as pairs of uint32 words. Codecs read and write values through this
 * view so that every bit pattern, NaN payloads included, moves as plain integers and never as
 * a JS number (which an engine may canonicalise).
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Index of the high word (sign, exponent, top of the mantissa) within a value's pair. */
export const HI = LITTLE_ENDIAN ? 1 : 0;
/** Index of the low word within a value's pair. */
export const LO = 1 - HI;

export function wordsOf(column: Float64Array): Uint32Array {
  return new Uint32Array(column.buffer, column.byteOffset, column.length * 2);
}

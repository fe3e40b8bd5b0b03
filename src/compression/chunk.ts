import { assert } from '../model/assert.js';
import { MAX_TIMESTAMP_EXCLUSIVE, type Samples } from '../model/point.js';
import { BitReader, BitWriter, corruptData } from './bit-io.js';
import { decodeDecimal, encodeDecimal, planDecimal } from './decimal.js';
import { MAX_CHUNK_POINTS } from './limits.js';
import { decodeRuns, encodeRuns, measureRuns } from './runs.js';
import { decodeTimestamps, encodeTimestamps } from './timestamps.js';
import { decodeXor, encodeXor, measureXor } from './xor.js';

/**
 * The chunk: a self-contained compressed run of one series' points, the unit blocks store.
 *
 * Layout (one bit stream, most significant bit first, zero-padded to a whole byte):
 *   byte 0     format version (high 4 bits) | value codec (low 4 bits)
 *   count      varuint (6-bit length + bits), 1..MAX_CHUNK_POINTS
 *   minTime    varuint
 *   span       varuint, maxTime - minTime
 *   timestamps timestamps.ts stream
 *   values     stream of the codec named in byte 0
 * The encoder tries the value codecs that apply and keeps the smallest stream.
 */

export const CHUNK_FORMAT_VERSION = 1;

export const VALUE_CODECS = { xor: 0, decimal: 1, runs: 2 } as const;
export type ValueCodec = keyof typeof VALUE_CODECS;
const CODEC_NAMES: readonly ValueCodec[] = ['xor', 'decimal', 'runs'];

export interface ChunkHeader {
  count: number;
  minTime: number;
  maxTime: number;
}

interface FullHeader extends ChunkHeader {
  codec: number;
}

const writer = new BitWriter(4096);
const reader = new BitReader();

/**
 * Encodes points [start, end) of the two columns. Timestamps must be strictly ascending
 * integers in [0, 2^53); values may be any float64 bit pattern.
 */
export function encodeChunk(
  timestamps: Float64Array,
  values: Float64Array,
  start = 0,
  end = timestamps.length,
): Uint8Array {
  const count = end - start;
  assert(
    Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= timestamps.length,
    'encodeChunk: [start, end) outside the columns',
  );
  assert(end <= values.length, 'encodeChunk: values column shorter than the range');
  assert(count >= 1 && count <= MAX_CHUNK_POINTS, `encodeChunk: ${count} points`);
  const minTime = timestamps[start];
  const maxTime = timestamps[end - 1];
  const w = writer;
  w.reset();
  w.writeBits(CHUNK_FORMAT_VERSION << 4, 8); // codec filled in below
  w.writeVarUint(count);
  w.writeVarUint(minTime);
  w.writeVarUint(maxTime - minTime);
  encodeTimestamps(w, timestamps, start, end);
  const codec = encodeValues(w, values, start, end);
  w.patchByte(0, (CHUNK_FORMAT_VERSION << 4) | codec);
  return w.toBytes();
}

/**
 * Sizes the values under every codec that applies, writes the smallest and returns its id.
 * A constant always takes the run form; on a tie decimal wins over XOR (it decodes faster).
 */
function encodeValues(w: BitWriter, values: Float64Array, start: number, end: number): number {
  const runs = measureRuns(values, start, end);
  const before = w.bitLength;
  let codec: number;
  let planned: number;
  if (runs.runs === 1) {
    codec = VALUE_CODECS.runs;
    planned = runs.bits;
    encodeRuns(w, values, start, end);
  } else {
    const decimal = planDecimal(values, start, end);
    const decimalBits = decimal === null ? Number.POSITIVE_INFINITY : decimal.bits;
    const xorBits = measureXor(values, start, end, Math.min(decimalBits, runs.bits));
    if (runs.bits < decimalBits && runs.bits < xorBits) {
      codec = VALUE_CODECS.runs;
      planned = runs.bits;
      encodeRuns(w, values, start, end);
    } else if (decimal !== null && decimalBits <= xorBits) {
      codec = VALUE_CODECS.decimal;
      planned = decimalBits;
      encodeDecimal(w, values, start, end, decimal);
    } else {
      codec = VALUE_CODECS.xor;
      planned = xorBits;
      encodeXor(w, values, start, end);
    }
  }
  // The sizing functions must agree with the writers, or the choice above means nothing.
  assert(w.bitLength - before === planned, 'encodeValues: stream size differs from its plan');
  return codec;
}

/** The longest header: the format byte and three varuints of at most 6 + 53 bits. */
const MAX_HEADER_BYTES = Math.ceil((8 + 3 * (6 + 53)) / 8);

/** Reads the header; with `whole`, the reader goes on to the streams, else it saw the header only. */
function readHeader(r: BitReader, bytes: Uint8Array, whole: boolean): FullHeader {
  if (bytes.length < 2) throw corruptData(`${bytes.length} bytes`);
  r.reset(bytes, 0, whole ? bytes.length : Math.min(bytes.length, MAX_HEADER_BYTES));
  const format = r.readBits(8);
  const version = format >>> 4;
  const codec = format & 0xf;
  if (version !== CHUNK_FORMAT_VERSION) throw corruptData(`unknown format version ${version}`);
  if (codec >= CODEC_NAMES.length) throw corruptData(`unknown value codec ${codec}`);
  const count = r.readVarUint();
  const minTime = r.readVarUint();
  const span = r.readVarUint();
  if (count < 1 || count > MAX_CHUNK_POINTS) throw corruptData(`point count ${count}`);
  const maxTime = minTime + span;
  if (maxTime >= MAX_TIMESTAMP_EXCLUSIVE) throw corruptData('maxTime beyond 2^53');
  // Distinct integer timestamps: count points need a span of at least count - 1.
  if (span < count - 1) throw corruptData(`${count} points within ${span} ms`);
  return { count, minTime, maxTime, codec };
}

export function readChunkHeader(bytes: Uint8Array): ChunkHeader {
  const { count, minTime, maxTime } = readHeader(reader, bytes, false);
  return { count, minTime, maxTime };
}

/** The name of the value codec a chunk uses (for tests, stats and debugging). */
export function chunkValueCodec(bytes: Uint8Array): ValueCodec {
  return CODEC_NAMES[readHeader(reader, bytes, false).codec];
}

export function decodeChunk(bytes: Uint8Array): Samples {
  const { count } = readHeader(reader, bytes, false);
  const timestamps = new Float64Array(count);
  const values = new Float64Array(count);
  decodeChunkInto(bytes, timestamps, values, 0);
  return { timestamps, values };
}

/**
 * Decodes into outTimestamps/outValues at `offset` and returns the point count. The arrays
 * must have room for the chunk's count (readChunkHeader) from `offset` on.
 */
export function decodeChunkInto(
  bytes: Uint8Array,
  outTimestamps: Float64Array,
  outValues: Float64Array,
  offset: number,
): number {
  const r = reader;
  const { count, minTime, maxTime, codec } = readHeader(r, bytes, true);
  assert(
    Number.isInteger(offset) &&
      offset >= 0 &&
      offset + count <= outTimestamps.length &&
      offset + count <= outValues.length,
    'decodeChunkInto: output arrays too short for the chunk',
  );
  decodeTimestamps(r, count, minTime, maxTime, outTimestamps, offset);
  if (codec === VALUE_CODECS.decimal) decodeDecimal(r, outValues, offset, count);
  else if (codec === VALUE_CODECS.xor) decodeXor(r, outValues, offset, count);
  else decodeRuns(r, outValues, offset, count);
  r.finish();
  return count;
}

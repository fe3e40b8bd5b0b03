import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { empiricalEntropy, generateDevopsData } from '../../bench/devops-data.js';
import {
  CHUNK_FORMAT_VERSION,
  chunkValueCodec,
  decodeChunk,
  decodeChunkInto,
  encodeChunk,
  readChunkHeader,
} from '../../src/compression/chunk.js';
import { AssertionFailed } from '../../src/model/assert.js';
import { CountError } from '../../src/model/errors.js';
import { bitsOf, type Columns, columns, MAX_TS } from './columns.js';

function expectRoundTrip({ timestamps, values }: Columns, start = 0, end = timestamps.length) {
  const bytes = encodeChunk(timestamps, values, start, end);
  expect(readChunkHeader(bytes)).toEqual({
    count: end - start,
    minTime: timestamps[start],
    maxTime: timestamps[end - 1],
  });
  const back = decodeChunk(bytes);
  expect(Array.from(back.timestamps)).toEqual(Array.from(timestamps.subarray(start, end)));
  expect(bitsOf(back.values)).toEqual(bitsOf(values, start, end));
  return bytes;
}

/** Decoding corrupt bytes either throws corrupt_data or yields a well-formed chunk. */
function decodeOrCorrupt(bytes: Uint8Array): 'ok' | 'corrupt' {
  try {
    const { count, minTime, maxTime } = readChunkHeader(bytes);
    const { timestamps, values } = decodeChunk(bytes);
    expect(timestamps.length).toBe(count);
    expect(values.length).toBe(count);
    expect(timestamps[0]).toBe(minTime);
    expect(timestamps[count - 1]).toBe(maxTime);
    for (let i = 1; i < count; i++) expect(timestamps[i]).toBeGreaterThan(timestamps[i - 1]);
    return 'ok';
  } catch (e) {
    if (!(e instanceof CountError)) throw e;
    expect(e.code).toBe('corrupt_data');
    return 'corrupt';
  }
}

function randomWalk2Decimals(n: number, seed: number): Float64Array {
  let m = 50_000;
  let x = seed;
  return Float64Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    m += (x % 201) - 100;
    return m / 100;
  });
}

const regular = (n: number) => Float64Array.from({ length: n }, (_, i) => 1e12 + i * 10_000);

describe('chunk format', () => {
  it('round-trips any ascending timestamps with any float64 bit patterns', () => {
    fc.assert(
      fc.property(columns(300), (cols) => {
        expectRoundTrip(cols);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes [start, end) of longer columns', () => {
    fc.assert(
      fc.property(
        columns(200).chain((cols) =>
          fc
            .tuple(fc.nat(cols.timestamps.length - 1), fc.nat(cols.timestamps.length - 1))
            .map(([a, b]) => ({ cols, start: Math.min(a, b), end: Math.max(a, b) + 1 })),
        ),
        ({ cols, start, end }) => {
          expectRoundTrip(cols, start, end);
        },
      ),
    );
  });

  it('decodeChunkInto writes at the offset and nowhere else', () => {
    const ts = regular(50);
    const vs = randomWalk2Decimals(50, 3);
    const bytes = encodeChunk(ts, vs);
    const outT = new Float64Array(60).fill(-1);
    const outV = new Float64Array(60).fill(-1);
    expect(decodeChunkInto(bytes, outT, outV, 7)).toBe(50);
    expect(Array.from(outT.subarray(7, 57))).toEqual(Array.from(ts));
    expect(Array.from(outV.subarray(7, 57))).toEqual(Array.from(vs));
    expect([...outT.subarray(0, 7), ...outT.subarray(57)].every((x) => x === -1)).toBe(true);
    expect([...outV.subarray(0, 7), ...outV.subarray(57)].every((x) => x === -1)).toBe(true);
    expect(() => decodeChunkInto(bytes, outT, outV, 11)).toThrow(AssertionFailed);
  });

  it('picks the constant form for a constant, decimal for decimals, XOR for other floats', () => {
    const ts = regular(720);
    const constant = encodeChunk(ts, new Float64Array(720).fill(29));
    expect(chunkValueCodec(constant)).toBe('runs');
    expect(constant.length).toBeLessThan(30);
    expect(chunkValueCodec(encodeChunk(ts, new Float64Array(720).fill(Number.NaN)))).toBe('runs');
    expect(chunkValueCodec(encodeChunk(ts, randomWalk2Decimals(720, 1)))).toBe('decimal');
    let c = 0;
    const counter = Float64Array.from({ length: 720 }, (_, i) => (c += i % 51));
    expect(chunkValueCodec(encodeChunk(ts, counter))).toBe('decimal');
    // float32 readings: 24-bit mantissas that XOR codes in about half the bits
    const floats = Float64Array.from({ length: 720 }, (_, i) => Math.fround(Math.sin(i / 10)));
    const xor = encodeChunk(ts, floats);
    expect(chunkValueCodec(xor)).toBe('xor');
    expect(xor.length).toBeLessThan(720 * 5);
    // incompressible floats: the smallest form costs about 65 bits a point, never much more
    const noise = Float64Array.from({ length: 720 }, (_, i) => Math.sin(i * 1e6) * 1e3);
    expect(encodeChunk(ts, noise).length).toBeLessThan(720 * 8.3);
    const steps = Float64Array.from({ length: 720 }, (_, i) => Math.PI * Math.floor(i / 200));
    expect(chunkValueCodec(encodeChunk(ts, steps))).toBe('runs');
  });

  it('stays within 15 % of the empirical entropy on the devops data (720-point chunks)', () => {
    const data = generateDevopsData({ seed: 7, series: 40, points: 1440 });
    let bytes = 0;
    for (let s = 0; s < data.keys.length; s++) {
      for (let a = 0; a < 1440; a += 720) {
        bytes += encodeChunk(data.timestamps[s], data.values[s], a, a + 720).length;
      }
    }
    const entropy = empiricalEntropy(data);
    const bitsPerPoint = (bytes * 8) / entropy.points;
    expect(bitsPerPoint).toBeGreaterThan(entropy.overall * 0.9);
    expect(bitsPerPoint).toBeLessThan(entropy.overall * 1.15);
  });

  it('refuses bad input to the encoder', () => {
    const ts = Float64Array.from([1, 2, 3]);
    const vs = Float64Array.from([1, 2, 3]);
    expect(() => encodeChunk(ts, vs, 1, 1)).toThrow(AssertionFailed);
    expect(() => encodeChunk(ts, vs, 0, 4)).toThrow(AssertionFailed);
    expect(() => encodeChunk(Float64Array.from([1, 3, 2]), vs)).toThrow(AssertionFailed);
    expect(() => encodeChunk(ts, Float64Array.from([1]))).toThrow(AssertionFailed);
    expect(() => encodeChunk(Float64Array.from([0, 2 ** 53]), vs, 0, 2)).toThrow(AssertionFailed);
  });

  it('throws corrupt_data for every truncation of a chunk', () => {
    fc.assert(
      fc.property(columns(60), (cols) => {
        const bytes = encodeChunk(cols.timestamps, cols.values);
        for (let len = 0; len < bytes.length; len++) {
          let code = 'none';
          try {
            decodeChunk(bytes.subarray(0, len));
          } catch (e) {
            code = e instanceof CountError ? e.code : String(e);
          }
          if (code !== 'corrupt_data') expect.fail(`${len} of ${bytes.length} bytes: ${code}`);
        }
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        expect(decodeOrCorrupt(longer)).toBe('corrupt');
      }),
      { numRuns: 60 },
    );
  });

  it('never hangs or fails otherwise on flipped bits or random bytes', () => {
    fc.assert(
      fc.property(
        columns(120),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        (cols, flips) => {
          const bytes = encodeChunk(cols.timestamps, cols.values).slice();
          for (const f of flips) bytes[(f >>> 3) % bytes.length] ^= 1 << (f & 7);
          decodeOrCorrupt(bytes);
        },
      ),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        decodeOrCorrupt(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('detects damaged header fields', () => {
    const ts = regular(100);
    const bytes = encodeChunk(ts, randomWalk2Decimals(100, 9));
    const damaged = (f: (b: Uint8Array) => void) => {
      const b = bytes.slice();
      f(b);
      return decodeOrCorrupt(b);
    };
    expect(damaged((b) => (b[0] = ((CHUNK_FORMAT_VERSION + 1) << 4) | (b[0] & 0xf)))).toBe(
      'corrupt',
    );
    expect(damaged((b) => (b[0] = (b[0] & 0xf0) | 0xf))).toBe('corrupt');
    expect(damaged((b) => (b[0] = (b[0] & 0xf0) | ((b[0] + 1) & 0x3)))).toBe('corrupt');
    // count: the 6-bit length prefix starts at bit 8; make it claim 60 bits
    expect(damaged((b) => (b[1] = (60 << 2) | (b[1] & 3)))).toBe('corrupt');
  });

  it('keeps a chunk at the top of the time range', () => {
    const ts = Float64Array.from({ length: 10 }, (_, i) => MAX_TS - 9 + i);
    expectRoundTrip({ timestamps: ts, values: new Float64Array(10).fill(-0) });
  });
});

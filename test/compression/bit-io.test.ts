import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter, bitLength } from '../../src/compression/bit-io.js';
import { CountError } from '../../src/model/errors.js';

type Field =
  | { kind: 'bits'; value: number; width: number }
  | { kind: 'long'; value: number; width: number }
  | { kind: 'var'; value: number }
  | { kind: 'zeros'; run: number; limit: number };

const field: fc.Arbitrary<Field> = fc.oneof(
  fc
    .integer({ min: 0, max: 32 })
    .chain((width) =>
      fc
        .integer({ min: 0, max: width === 32 ? 0xffffffff : 2 ** width - 1 })
        .map((value): Field => ({ kind: 'bits', value, width })),
    ),
  fc
    .integer({ min: 0, max: 53 })
    .chain((width) =>
      fc
        .integer({ min: 0, max: Math.min(Number.MAX_SAFE_INTEGER, 2 ** width - 1) })
        .map((value): Field => ({ kind: 'long', value, width })),
    ),
  fc.maxSafeNat().map((value): Field => ({ kind: 'var', value })),
  fc
    .integer({ min: 1, max: 80 })
    .chain((limit) =>
      fc.integer({ min: 0, max: limit }).map((run): Field => ({ kind: 'zeros', run, limit })),
    ),
);

function write(w: BitWriter, f: Field): void {
  if (f.kind === 'bits') w.writeBits(f.value, f.width);
  else if (f.kind === 'long') w.writeBitsLong(f.value, f.width);
  else if (f.kind === 'var') w.writeVarUint(f.value);
  else {
    for (let i = 0; i < f.run; i++) w.writeBit(0);
    if (f.run < f.limit) w.writeBit(1);
  }
}

function read(r: BitReader, f: Field): number {
  if (f.kind === 'bits') return r.readBits(f.width);
  if (f.kind === 'long') return r.readBitsLong(f.width);
  if (f.kind === 'var') return r.readVarUint();
  return r.readZeroRun(f.limit);
}

function expected(f: Field): number {
  return f.kind === 'zeros' ? f.run : f.value;
}

function expectCorrupt(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    expect((e as CountError).code).toBe('corrupt_data');
    return;
  }
  throw new Error('expected corrupt_data');
}

describe('BitWriter / BitReader', () => {
  it('read back any sequence of fields exactly, ending on the padding byte', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 200 }), (fields) => {
        const w = new BitWriter(16);
        let bits = 0;
        for (const f of fields) {
          const before = w.bitLength;
          write(w, f);
          bits += w.bitLength - before;
        }
        const bytes = w.toBytes();
        expect(bytes.length).toBe(Math.ceil(bits / 8));
        const r = new BitReader();
        r.reset(bytes);
        for (const f of fields) expect(read(r, f)).toBe(expected(f));
        expect(r.bitPosition).toBe(bits);
        r.finish();
      }),
      { numRuns: 300 },
    );
  });

  it('appends one writer to another at any bit offset', () => {
    fc.assert(
      fc.property(
        fc.array(field, { maxLength: 30 }),
        fc.array(field, { maxLength: 30 }),
        (a, b) => {
          const first = new BitWriter(16);
          const second = new BitWriter(16);
          for (const f of a) write(first, f);
          for (const f of b) write(second, f);
          first.append(second);
          const r = new BitReader();
          r.reset(first.toBytes());
          for (const f of [...a, ...b]) expect(read(r, f)).toBe(expected(f));
          r.finish();
        },
      ),
    );
  });

  it('bitLength counts the bits of integers up to 2^53', () => {
    expect(bitLength(0)).toBe(0);
    expect(bitLength(1)).toBe(1);
    expect(bitLength(255)).toBe(8);
    expect(bitLength(2 ** 32 - 1)).toBe(32);
    expect(bitLength(2 ** 32)).toBe(33);
    expect(bitLength(2 ** 53 - 1)).toBe(53);
  });

  it('reads past the end as corrupt_data, and finish() catches short and long streams', () => {
    const w = new BitWriter();
    w.writeBits(0xabc, 12);
    const bytes = w.toBytes();
    const r = new BitReader();
    r.reset(bytes);
    expect(r.readBits(12)).toBe(0xabc);
    r.finish();

    r.reset(bytes);
    expectCorrupt(() => {
      for (let i = 0; i < 20; i++) r.readBits(16);
    });

    r.reset(bytes);
    r.readBits(12);
    r.readBits(8); // consumed more than was written
    expectCorrupt(() => r.finish());

    r.reset(new Uint8Array([0xab, 0xc0, 0x00]));
    r.readBits(12);
    expectCorrupt(() => r.finish()); // a whole byte left over

    r.reset(new Uint8Array([0xab, 0xc1]));
    r.readBits(12);
    expectCorrupt(() => r.finish()); // padding not zero
  });

  it('a zero run over an all-zero stream ends at the limit or in corrupt_data', () => {
    const r = new BitReader();
    r.reset(new Uint8Array(4));
    expect(r.readZeroRun(20)).toBe(20);
    r.reset(new Uint8Array(4));
    expectCorrupt(() => r.readZeroRun(1000));
  });
});

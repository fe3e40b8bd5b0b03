import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convergeValue, validateTimestamp, validateValue } from '../../src/model/point.js';

const bits = (x: number) => {
  const f = new Float64Array([x]);
  const u = new Uint32Array(f.buffer);
  return `${u[1].toString(16)}:${u[0].toString(16)}`;
};
const anyDouble = fc.double({ noDefaultInfinity: false, noNaN: false });
const nanWithPayload = fc.tuple(fc.integer({ min: 0, max: 0xfffff }), fc.nat()).map(([hi, lo]) => {
  const u = new Uint32Array([lo >>> 0, (0x7ff00000 | hi | 1) >>> 0]);
  return new Float64Array(u.buffer)[0];
});
const value = fc.oneof(anyDouble, nanWithPayload, fc.constantFrom(0, -0, Infinity, -Infinity));

describe('convergeValue (larger wins, NaN smallest)', () => {
  it('picks the larger number', () => {
    expect(convergeValue(1, 2)).toBe(2);
    expect(convergeValue(-5, -7)).toBe(-5);
    expect(convergeValue(Number.NaN, -Infinity)).toBe(-Infinity);
    expect(convergeValue(-Infinity, Number.NaN)).toBe(-Infinity);
    expect(Object.is(convergeValue(-0, 0), 0)).toBe(true);
    expect(Object.is(convergeValue(0, -0), 0)).toBe(true);
  });

  it('is commutative, associative and idempotent bit for bit', () => {
    fc.assert(
      fc.property(value, value, value, (a, b, c) => {
        expect(bits(convergeValue(a, b))).toBe(bits(convergeValue(b, a)));
        expect(bits(convergeValue(convergeValue(a, b), c))).toBe(
          bits(convergeValue(a, convergeValue(b, c))),
        );
        expect(bits(convergeValue(a, a))).toBe(bits(a));
        const r = convergeValue(a, b);
        expect(bits(r) === bits(a) || bits(r) === bits(b)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('point validation', () => {
  it('accepts integer ms timestamps in [0, 2^53)', () => {
    expect(validateTimestamp(0)).toBe(0);
    expect(validateTimestamp(2 ** 53 - 1)).toBe(2 ** 53 - 1);
  });
  it.each([-1, 1.5, 2 ** 53, Number.NaN, '1', null, undefined])('rejects timestamp %s', (t) => {
    expect(() => validateTimestamp(t)).toThrowError(
      expect.objectContaining({ code: 'invalid_timestamp', field: 'timestamp' }),
    );
  });
  it('rejects non-numeric values', () => {
    expect(() => validateValue('1.5')).toThrowError(
      expect.objectContaining({ code: 'invalid_value' }),
    );
    expect(validateValue(Number.NaN)).toBeNaN();
  });
});

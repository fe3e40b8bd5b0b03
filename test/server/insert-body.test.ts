import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { parseInsertBody } from '../../src/server/insert-body.js';
import { formatJsonValue, formatPointsJson, parseJsonValue } from '../../src/server/json-values.js';

function failure(body: unknown): CountError {
  try {
    parseInsertBody(body);
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    return e as CountError;
  }
  throw new Error(`expected ${JSON.stringify(body)} to be rejected`);
}

describe('POST /insert body', () => {
  it('accepts one point and canonicalises its series', () => {
    const b = parseInsertBody({ series: 'cpu{region="eu",host="h1"}', timestamp: 5, value: 1.5 });
    expect(b.length).toBe(1);
    expect(b.series).toEqual(['cpu{host="h1",region="eu"}']);
    expect([b.timestamps[0], b.values[0]]).toEqual([5, 1.5]);
  });

  it('accepts many points, interning each series once', () => {
    const points = Array.from({ length: 100 }, (_, i) => ({
      series: `m${i % 4}`,
      timestamp: i,
      value: i * 2,
    }));
    const b = parseInsertBody({ points });
    expect(b.length).toBe(100);
    expect(b.series).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(Array.from(b.values.subarray(0, 100))).toEqual(points.map((p) => p.value));
  });

  it('accepts "NaN", "+Inf", "Inf" and "-Inf" as values', () => {
    const b = parseInsertBody({
      points: ['NaN', '+Inf', 'Inf', '-Inf'].map((value, i) => ({
        series: 'm',
        timestamp: i,
        value,
      })),
    });
    expect(Array.from(b.values.subarray(0, 4))).toEqual([NaN, Infinity, Infinity, -Infinity]);
  });

  it('rejects bad input naming the field', () => {
    const cases: [unknown, string, string][] = [
      [null, 'invalid_body', 'body'],
      [[1, 2], 'invalid_body', 'body'],
      [{ points: 'x' }, 'invalid_body', 'points'],
      [{ points: [], extra: 1 }, 'invalid_body', 'extra'],
      [{ series: 'm', timestamp: 1, value: 1, tags: {} }, 'invalid_body', 'tags'],
      [{ series: '', timestamp: 1, value: 1 }, 'invalid_series', 'series'],
      [{ timestamp: 1, value: 1 }, 'invalid_series', 'series'],
      [{ series: 'bad name', timestamp: 1, value: 1 }, 'invalid_series', 'series'],
      [{ series: 'm', timestamp: 'NaN', value: 1 }, 'invalid_timestamp', 'timestamp'],
      [{ series: 'm', timestamp: 1.5, value: 1 }, 'invalid_timestamp', 'timestamp'],
      [{ series: 'm', timestamp: -1, value: 1 }, 'invalid_timestamp', 'timestamp'],
      [{ series: 'm', timestamp: 2 ** 53, value: 1 }, 'invalid_timestamp', 'timestamp'],
      [{ series: 'm', timestamp: 1, value: '1' }, 'invalid_value', 'value'],
      [{ series: 'm', timestamp: 1, value: null }, 'invalid_value', 'value'],
      [{ series: 'm', timestamp: 1 }, 'invalid_value', 'value'],
      [
        {
          points: [
            { series: 'm', timestamp: 1, value: 1 },
            { series: 'm', timestamp: 1 },
          ],
        },
        'invalid_value',
        'points[1].value',
      ],
      [{ points: [{ series: 'm', timestamp: 1, value: 1 }, 7] }, 'invalid_body', 'points[1]'],
    ];
    for (const [body, code, field] of cases) {
      const e = failure(body);
      expect(e.code, JSON.stringify(body)).toBe(code);
      expect(e.field, JSON.stringify(body)).toBe(field);
      expect(e.status).toBe(400);
    }
  });
});

describe('JSON values', () => {
  it('round-trips non-finite values and -0 through the text form', () => {
    for (const v of [1.5, -0, 0, Number.NaN, Infinity, -Infinity, 5e-324, 1.7976931348623157e308]) {
      const back = parseJsonValue(JSON.parse(formatJsonValue(v)));
      expect(Object.is(back, v), String(v)).toBe(true);
    }
  });

  it('formats points as [{timestamp, value}]', () => {
    const text = formatPointsJson({
      timestamps: new Float64Array([1, 2, 3]),
      values: new Float64Array([0.5, Number.NaN, -Infinity]),
    });
    expect(JSON.parse(text)).toEqual([
      { timestamp: 1, value: 0.5 },
      { timestamp: 2, value: 'NaN' },
      { timestamp: 3, value: '-Inf' },
    ]);
    expect(formatPointsJson({ timestamps: new Float64Array(0), values: new Float64Array(0) })).toBe(
      '[]',
    );
  });
});

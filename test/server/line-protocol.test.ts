import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PointBatch } from '../../src/model/batch.js';
import { CountError } from '../../src/model/errors.js';
import {
  influxSeriesKey,
  type LineProtocolOptions,
  parseLineProtocol,
  parsePrecision,
  type SeriesKeyBuilder,
  SeriesKeyCache,
} from '../../src/server/line-protocol.js';

const NOW = 1_700_000_000_123;

/** Records the decoded pieces instead of building a series key, to test the syntax layer. */
const rawKey: SeriesKeyBuilder = (measurement, tags, field) =>
  JSON.stringify([measurement, tags, field]);

function parse(
  text: string,
  options: Partial<LineProtocolOptions> & { keyOf?: SeriesKeyBuilder } = {},
): PointBatch {
  const { keyOf, ...rest } = options;
  const cache = rest.cache ?? new SeriesKeyCache(keyOf ?? influxSeriesKey);
  return parseLineProtocol(Buffer.from(text), { precision: 'ns', nowMs: NOW, ...rest, cache });
}

/** Rows [series, timestamp, value] in batch order. */
function rows(batch: PointBatch): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (let i = 0; i < batch.length; i++) {
    out.push([batch.series[batch.seriesIndex[i]], batch.timestamps[i], batch.values[i]]);
  }
  return out;
}

function decoded(text: string): [unknown, number, number][] {
  return rows(parse(text, { keyOf: rawKey })).map(([k, t, v]) => [JSON.parse(k), t, v]);
}

function failure(text: string, options: Partial<LineProtocolOptions> = {}): CountError {
  try {
    parse(text, options);
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    return e as CountError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe('line protocol: InfluxDB reference examples', () => {
  it('maps measurement, tags and field to the series key', () => {
    expect(rows(parse('cpu,host=h1 usage_user=1.5 1465839830100400200'))).toEqual([
      ['cpu.usage_user{host="h1"}', 1465839830100, 1.5],
    ]);
  });

  it('reads several fields per line, one series each, same timestamp', () => {
    expect(
      rows(
        parse(
          'weather,location=us-midwest temperature=82,bug_concentration=98 1465839830100400200',
        ),
      ),
    ).toEqual([
      ['weather.temperature{location="us-midwest"}', 1465839830100, 82],
      ['weather.bug_concentration{location="us-midwest"}', 1465839830100, 98],
    ]);
  });

  it('sorts tags into the canonical key whatever their order on the line', () => {
    const a = rows(parse('weather,season=summer,location=us-midwest temperature=82 1'));
    const b = rows(parse('weather,location=us-midwest,season=summer temperature=82 1'));
    expect(a).toEqual(b);
    expect(a[0][0]).toBe('weather.temperature{location="us-midwest",season="summer"}');
  });

  it('accepts a line without tags and a line without timestamp (server time)', () => {
    expect(
      rows(parse('weather temperature=82 1465839830100400200\nweather temperature=83')),
    ).toEqual([
      ['weather.temperature', 1465839830100, 82],
      ['weather.temperature', NOW, 83],
    ]);
  });

  it('decodes escaped commas, spaces and equals signs (reference table)', () => {
    expect(decoded('wea\\,ther,location=us-midwest temperature=82 0')[0][0]).toEqual([
      'wea,ther',
      [['location', 'us-midwest']],
      'temperature',
    ]);
    expect(decoded('wea\\ ther,location=us-midwest temperature=82 0')[0][0]).toEqual([
      'wea ther',
      [['location', 'us-midwest']],
      'temperature',
    ]);
    expect(decoded('weather,location\\ place=us-midwest temperature=82 0')[0][0]).toEqual([
      'weather',
      [['location place', 'us-midwest']],
      'temperature',
    ]);
    expect(decoded('weather,location=us\\,midwest temperature=82 0')[0][0]).toEqual([
      'weather',
      [['location', 'us,midwest']],
      'temperature',
    ]);
    expect(decoded('weather,location=us-midwest temp\\=rature=82 0')[0][0]).toEqual([
      'weather',
      [['location', 'us-midwest']],
      'temp=rature',
    ]);
    expect(decoded('weather,loc\\=ation=us\\=mid\\ west temp\\,er\\ ature=82 0')[0][0]).toEqual([
      'weather',
      [['loc=ation', 'us=mid west']],
      'temp,er ature',
    ]);
  });

  it('keeps quotes in keys literally and a backslash before an ordinary character', () => {
    expect(decoded('"weather",location=us-midwest temperature=82 0')[0][0]).toEqual([
      '"weather"',
      [['location', 'us-midwest']],
      'temperature',
    ]);
    expect(decoded('my\\table,t\\ag=v\\\\1 f\\x=1 0')[0][0]).toEqual([
      'my\\table',
      [['t\\ag', 'v\\1']],
      'f\\x',
    ]);
  });

  it('decodes unicode and escapes together (the line-protocol README example)', () => {
    const line =
      'measurement\\ with\\ quo⚡es\\ and\\ emoji,tag\\ key\\ with\\ sp🚀ces=tag\\,value\\,with"commas" field_k\\ey=1 0';
    expect(decoded(line)[0][0]).toEqual([
      'measurement with quo⚡es and emoji',
      [['tag key with sp🚀ces', 'tag,value,with"commas"']],
      'field_k\\ey',
    ]);
  });

  it('maps escaped tag values into quoted label values of the canonical key', () => {
    expect(rows(parse('cpu,host=a\\ b\\,c\\=d usage=1 0'))[0][0]).toBe('cpu.usage{host="a b,c=d"}');
    expect(rows(parse('cpu,path=C:\\\\dir usage=1 0'))[0][0]).toBe('cpu.usage{path="C:\\\\dir"}');
  });

  it('parses floats in every reference form', () => {
    const values = ['82', '-1.234456e+78', '1.0', '1', '8.2e1', '.5', '5.', '-0', '1E-3', '+2.5'];
    const got = rows(parse(values.map((v, i) => `m f=${v} ${i}`).join('\n'))).map((r) => r[2]);
    expect(got).toEqual(values.map(Number));
    expect(Object.is(got[7], -0)).toBe(true);
  });

  it('rounds decimal text exactly like Number() (fast path and fallback)', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const texts = [String(x), x.toExponential(), x.toFixed(Math.min(20, 6))];
        for (const t of texts) {
          if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) continue;
          expect(rows(parse(`m f=${t} 0`))[0][2]).toBe(Number(t));
        }
      }),
      { numRuns: 500 },
    );
    for (const t of ['0.1', '0.30000000000000004', '123456789012345678', '9007199254740993']) {
      expect(rows(parse(`m f=${t} 0`))[0][2]).toBe(Number(t));
    }
  });

  it('parses i and u integers, including the int64 and uint64 limits', () => {
    const got = rows(
      parse(
        [
          'm a=82i',
          'm b=-9223372036854775808i',
          'm c=9223372036854775807i',
          'm d=18446744073709551615u',
          'm e=0u',
          'm f=-12i',
        ].join('\n'),
      ),
    ).map((r) => r[2]);
    expect(got).toEqual([82, -(2 ** 63), 2 ** 63, 2 ** 64, 0, -12]);
  });

  it('maps booleans to 1 and 0 in every spelling', () => {
    const t = ['t', 'T', 'true', 'True', 'TRUE'];
    const f = ['f', 'F', 'false', 'False', 'FALSE'];
    const text = [...t, ...f].map((v, i) => `m x=${v} ${i}`).join('\n');
    expect(rows(parse(text)).map((r) => r[2])).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('converts each precision to integer milliseconds (floor)', () => {
    const line = (ts: string) => `m f=1 ${ts}`;
    expect(rows(parse(line('1465839830100400200')))[0][1]).toBe(1465839830100);
    expect(rows(parse(line('1465839830100400'), { precision: 'us' }))[0][1]).toBe(1465839830100);
    expect(rows(parse(line('1465839830100'), { precision: 'ms' }))[0][1]).toBe(1465839830100);
    expect(rows(parse(line('1465839830'), { precision: 's' }))[0][1]).toBe(1465839830000);
    expect(rows(parse(line('999999')))[0][1]).toBe(0);
    expect(rows(parse(line('0')))[0][1]).toBe(0);
    expect(rows(parse(line('0001000000')))[0][1]).toBe(1);
  });

  it('floors any timestamp in any precision to the right ms (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 53 - 1 }),
        fc.integer({ min: 0, max: 999_999 }),
        fc.constantFrom('ns', 'us', 'ms', 's'),
        (ms, sub, precision) => {
          const unit = precision as 'ns' | 'us' | 'ms' | 's';
          let text: string;
          let expected: number;
          if (unit === 'ns') {
            text = `${ms}${String(sub).padStart(6, '0')}`;
            expected = ms;
          } else if (unit === 'us') {
            text = `${ms}${String(sub % 1000).padStart(3, '0')}`;
            expected = ms;
          } else if (unit === 'ms') {
            text = String(ms);
            expected = ms;
          } else {
            const sec = Math.floor(ms / 1000);
            text = String(sec);
            expected = sec * 1000;
          }
          if (ms === 0 && unit !== 's') text = text.replace(/^0+(?=\d)/, '');
          expect(rows(parse(`m f=1 ${text}`, { precision: unit }))[0][1]).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('skips blank lines, comments, CRLF endings and leading whitespace', () => {
    const text = '# comment\r\n\r\n  m f=1 5000000\r\n\t# another\nm f=2 6000000\n\n';
    expect(rows(parse(text))).toEqual([
      ['m.f', 5, 1],
      ['m.f', 6, 2],
    ]);
  });

  it('builds each canonical key once per request and interns it in the batch', () => {
    let calls = 0;
    const counting: SeriesKeyBuilder = (m, tags, f) => {
      calls++;
      return rawKey(m, tags, f);
    };
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(`cpu,host=h${i % 3} a=${i},b=${i} ${i}000000`);
    const cache = new SeriesKeyCache(counting);
    const batch = parse(lines.join('\n'), { cache });
    expect(calls).toBe(6);
    expect(batch.series.length).toBe(6);
    expect(batch.length).toBe(600);
    // A later request reuses the keys, with ids of its own batch.
    const again = parse('cpu,host=h2 b=1 0\ncpu,host=h0 a=2 0\ncpu,host=h2 b=3 0', { cache });
    expect(calls).toBe(6);
    expect(rows(again).map((r) => JSON.parse(r[0]))).toEqual([
      ['cpu', [['host', 'h2']], 'b'],
      ['cpu', [['host', 'h0']], 'a'],
      ['cpu', [['host', 'h2']], 'b'],
    ]);
    expect(again.series.length).toBe(2);
  });

  it('keeps copies of the raw bytes, not views of a request body that may be reused', () => {
    let calls = 0;
    const cache = new SeriesKeyCache((m, tags, f) => {
      calls++;
      return rawKey(m, tags, f);
    });
    const body = Buffer.from('cpu,host=a v=1 0');
    parseLineProtocol(body, { precision: 'ms', nowMs: 0, cache });
    body.write('cpu,host=b v=2 0'); // the same memory now holds another request
    const again = parseLineProtocol(Buffer.from('cpu,host=a v=3 0'), {
      precision: 'ms',
      nowMs: 0,
      cache,
    });
    expect(calls).toBe(1);
    expect(JSON.parse(again.series[0])).toEqual(['cpu', [['host', 'a']], 'v']);
  });

  it('gives two spellings of one series (tag order, escapes) one batch series', () => {
    const cache = new SeriesKeyCache(influxSeriesKey);
    const text = 'cpu,b=2,a=1 v=1 1\ncpu,a=1,b=2 v=2 2\ncpu,a=p\\q v=3 3\ncpu,a=p\\\\q v=4 4';
    const batch = parse(text, { cache });
    expect(batch.series).toEqual(['cpu.v{a="1",b="2"}', 'cpu.v{a="p\\\\q"}']);
    expect(Array.from(batch.seriesIndex.subarray(0, 4))).toEqual([0, 0, 1, 1]);
    // seriesId stays consistent with what the parser appended.
    expect(batch.seriesId('cpu.v{a="1",b="2"}')).toBe(0);
    expect(batch.seriesId('other')).toBe(2);
    expect(batch.series[2]).toBe('other');
  });

  it('bounds the shared cache: past maxKeys it starts over and stays correct', () => {
    const cache = new SeriesKeyCache(rawKey, 10);
    for (let r = 0; r < 5; r++) {
      const lines = Array.from({ length: 8 }, (_, i) => `m,h=h${(i + r * 3) % 17} f=${i} ${i}`);
      const batch = parse(lines.join('\n'), { cache });
      // Cleared only between requests: at most maxKeys plus one request's keys.
      expect(cache.size).toBeLessThanOrEqual(10 + 8);
      expect(rows(batch).map((x) => JSON.parse(x[0])[1][0][1])).toEqual(
        Array.from({ length: 8 }, (_, i) => `h${(i + r * 3) % 17}`),
      );
    }
  });

  it('treats an empty body as no points', () => {
    expect(parse('').length).toBe(0);
    expect(parse('\n\n# only a comment\n').length).toBe(0);
  });
});

describe('line protocol: bad input names the line', () => {
  const cases: [string, string, string][] = [
    ['string field', 'm f=1 1\nweather temperature="too hot" 0', 'string field'],
    ['missing field set', 'm f=1 1\nm f=2 2\nweather', 'field set'],
    ['field without value', 'm f=1 1\nm f 1', 'no value'],
    ['empty field value', 'm f=1 1\nm f= 1', 'empty value'],
    ['bad number', 'm f=1 1\nm f=1.2.3 1', 'invalid number'],
    ['bad boolean', 'm f=1 1\nm f=yes 1', 'invalid value'],
    ['int out of range', 'm f=1 1\nm f=9223372036854775808i', 'invalid number'],
    ['uint negative', 'm f=1 1\nm f=-1u', 'invalid number'],
    ['float out of range', 'm f=1 1\nm f=1e400', 'invalid number'],
    ['NaN literal', 'm f=1 1\nm f=NaN', 'invalid value'],
    ['tag without value', 'm f=1 1\nm,host f=1', 'no value'],
    ['empty tag value', 'm f=1 1\nm,host= f=1', 'empty value'],
    ['trailing comma', 'm f=1 1\nm f=1, 1', 'trailing comma'],
    ['text after timestamp', 'm f=1 1\nm f=1 1 2', 'after the timestamp'],
  ];
  for (const [name, text, words] of cases) {
    it(`rejects ${name} with the line number`, () => {
      const e = failure(text);
      const line = text.split('\n').length;
      expect(e.status).toBe(400);
      expect(e.message).toContain(`line ${line}:`);
      expect(e.message).toContain(words);
      expect(e.details).toMatchObject({ line });
    });
  }

  it('rejects bad timestamps with invalid_timestamp', () => {
    for (const ts of ['12a', '-5000000', '1.5', '90071992547409920000000', '1e9']) {
      const e = failure(`m f=1 ${ts}`);
      expect(e.code).toBe('invalid_timestamp');
      expect(e.message).toContain('line 1:');
    }
    expect(failure('m f=1 9007199254740992', { precision: 'ms' }).code).toBe('invalid_timestamp');
    expect(rows(parse('m f=1 9007199254740991', { precision: 'ms' }))[0][1]).toBe(2 ** 53 - 1);
  });

  it('reports an invalid series (name characters, label names) with the line', () => {
    const e = failure('m f=1 1\nm f=1 1\nwea\\ ther temperature=1');
    expect(e.code).toBe('invalid_series');
    expect(e.message).toContain('line 3:');
    expect(failure('cpu,host=a,host=b f=1').code).toBe('invalid_series');
    expect(failure('cpu,1host=a f=1').code).toBe('invalid_series');
  });

  it('accepts only the documented precisions', () => {
    expect(parsePrecision(undefined)).toBe('ns');
    expect(parsePrecision('n')).toBe('ns');
    expect(parsePrecision('u')).toBe('us');
    expect(parsePrecision('s')).toBe('s');
    expect(() => parsePrecision('h')).toThrow(CountError);
  });
});

describe('line protocol: round trip of escaped keys (property)', () => {
  const piece = fc.string({
    unit: fc.constantFrom('a', 'b', 'Z', '1', '_', ' ', ',', '=', '\\', '"', 'é', '🚀'),
    minLength: 1,
    maxLength: 8,
  });
  // A trailing backslash would escape the separator after it: writers escape it as \\.
  const escapeWith = (s: string, specials: RegExp) =>
    s.replace(/\\/g, '\\\\').replace(specials, '\\$&');
  const escMeasurement = (s: string) => escapeWith(s, /[, ]/g);
  const escKey = (s: string) => escapeWith(s, /[, =]/g);

  it('decodes what a writer escapes', () => {
    fc.assert(
      fc.property(
        piece.filter((s) => !s.startsWith('#') && !s.startsWith(' ')),
        fc.uniqueArray(fc.tuple(piece, piece), { maxLength: 3, selector: ([k]) => k }),
        piece,
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (m, tags, field, value, ms) => {
          const tagText = tags.map(([k, v]) => `,${escKey(k)}=${escKey(v)}`).join('');
          const v = Object.is(value, -0) ? '-0' : String(value);
          const line = `${escMeasurement(m)}${tagText} ${escKey(field)}=${v} ${ms}000000`;
          const got = decoded(line);
          expect(got).toEqual([[[m, tags, field], ms, value]]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

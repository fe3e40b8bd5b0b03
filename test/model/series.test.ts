import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import {
  canonicalSeriesKey,
  formatSeriesKey,
  isCanonical,
  MAX_SERIES_KEY_BYTES,
  parseSeriesKey,
  type SeriesKey,
  seriesKeyFromParts,
} from '../../src/model/series.js';

const nameArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/);
const labelNameArb = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/)
  .filter((s) => !s.startsWith('__'));
// Values: printable ASCII (including quotes and backslashes) plus some non-ASCII.
const valueArb = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('"', '\\', 'é', '€', '😀', '日'),
    ),
    { minLength: 1, maxLength: 12 },
  )
  .map((a) => a.join(''));
const keyArb: fc.Arbitrary<SeriesKey> = fc
  .tuple(
    nameArb,
    fc.uniqueArray(fc.tuple(labelNameArb, valueArb), { selector: (p) => p[0], maxLength: 4 }),
  )
  .map(([name, labels]) => ({
    name,
    labels: [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  }))
  .filter((k) => Buffer.byteLength(formatSeriesKey(k)) <= MAX_SERIES_KEY_BYTES);

function expectInvalid(fn: () => unknown, pattern?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    expect((e as CountError).code).toBe('invalid_series');
    if (pattern) expect((e as CountError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected invalid_series');
}

describe('parseSeriesKey', () => {
  it('parses a bare name and a labelled key, sorting labels', () => {
    expect(parseSeriesKey('cpu.usage.total')).toEqual({ name: 'cpu.usage.total', labels: [] });
    expect(parseSeriesKey('cpu.usage_user{region="eu",host="h1"}')).toEqual({
      name: 'cpu.usage_user',
      labels: [
        ['host', 'h1'],
        ['region', 'eu'],
      ],
    });
  });

  it('unescapes \\" and \\\\ and accepts whitespace, trailing comma, empty braces', () => {
    expect(parseSeriesKey('m{ a = "x\\"y\\\\z" , }').labels).toEqual([['a', 'x"y\\z']]);
    expect(canonicalSeriesKey('m{}')).toBe('m');
    expect(canonicalSeriesKey('m{b="2", a="1"}')).toBe('m{a="1",b="2"}');
  });

  it.each([
    ['', /must not be empty/],
    ['{a="1"}', /starts with a metric name/],
    ['cpu usage', /invalid character " " at offset 3/],
    ['cpu{', /expected a label name .* at offset 4/],
    ['cpu{a}', /expected '=' after label name "a" at offset 5/],
    ['cpu{a=1}', /expected '"' .* at offset 6/],
    ['cpu{a="1"', /expected ',' or '}' at offset 9/],
    ['cpu{a="1}', /unterminated value of label "a" starting at offset 6/],
    ['cpu{a="\\n"}', /invalid escape "\\\\n" at offset 7/],
    ['cpu{a="1",a="2"}', /label "a" appears more than once/],
    ['cpu{a=""}', /empty value/],
    ['cpu{__name__="x"}', /reserved/],
    ['cpu{1a="x"}', /expected a label name/],
    ['cpu{a="x"}x', /unexpected text after '}' at offset 10/],
    ['cpu{a="\u0001"}', /control character U\+0001/],
    ['cpu{a="\ud800"}', /lone UTF-16 surrogate/],
    [`${'x'.repeat(257)}`, /257 bytes/],
    [`m{a="${'€'.repeat(84)}"}`, /259 bytes/],
  ])('rejects %j', (text, pattern) => {
    expectInvalid(() => parseSeriesKey(text), pattern);
    expectInvalid(() => canonicalSeriesKey(text), pattern);
  });

  it('names the field in the error', () => {
    try {
      parseSeriesKey('a b', 'points[3].series');
      expect.unreachable();
    } catch (e) {
      expect((e as CountError).field).toBe('points[3].series');
      expect((e as CountError).message).toMatch(/^points\[3\]\.series /);
    }
  });

  it('accepts exactly 256 bytes', () => {
    const k = `m{a="${'x'.repeat(MAX_SERIES_KEY_BYTES - 7)}"}`;
    expect(Buffer.byteLength(k)).toBe(256);
    expect(canonicalSeriesKey(k)).toBe(k);
    expect(isCanonical(k)).toBe(true);
    expectInvalid(() => canonicalSeriesKey(`m{a="${'x'.repeat(MAX_SERIES_KEY_BYTES - 6)}"}`));
  });
});

describe('formatSeriesKey / seriesKeyFromParts', () => {
  it('sorts many labels (the Array.sort path) as well as few', () => {
    const names = Array.from({ length: 20 }, (_, i) => `l${String(i).padStart(2, '0')}`);
    const want = `m{${names.map((n) => `${n}="v"`).join(',')}}`;
    expect(
      seriesKeyFromParts(
        'm',
        [...names].reverse().map((n) => [n, 'v'] as [string, string]),
      ),
    ).toBe(want);
    expect(
      canonicalSeriesKey(
        `m{${[...names]
          .reverse()
          .map((n) => `${n}="v"`)
          .join(',')}}`,
      ),
    ).toBe(want);
    expect(() =>
      seriesKeyFromParts(
        'm',
        [...names, 'l05'].map((n) => [n, 'v'] as [string, string]),
      ),
    ).toThrow(/more than once/);
  });

  it('escapes quotes and backslashes and sorts labels', () => {
    expect(
      seriesKeyFromParts('cpu', [
        ['z', 'a"b'],
        ['a', 'c\\d'],
      ]),
    ).toBe('cpu{a="c\\\\d",z="a\\"b"}');
  });

  it.each([
    ['', [], /metric name/],
    ['c pu', [], /invalid character " "/],
    ['cpu', [['', 'x']], /label name/],
    ['cpu', [['9', 'x']], /invalid label name/],
    ['cpu', [['__x', 'x']], /reserved/],
    ['cpu', [['a', '']], /empty value/],
    ['cpu', [['a', 'x\ny']], /control character/],
    [
      'cpu',
      [
        ['a', '1'],
        ['a', '2'],
      ],
      /more than once/,
    ],
  ] as [string, [string, string][], RegExp][])('rejects %j %j', (name, labels, pattern) => {
    expectInvalid(() => seriesKeyFromParts(name, labels, 'line 3'), pattern);
  });
});

describe('properties', () => {
  it('parse(format(k)) == k and format is canonical', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const text = formatSeriesKey(k);
        expect(parseSeriesKey(text)).toEqual(k);
        expect(isCanonical(text)).toBe(true);
        expect(canonicalSeriesKey(text)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('format(parse(t)) is idempotent for shuffled, spaced keys', () => {
    fc.assert(
      fc.property(keyArb, fc.boolean(), fc.boolean(), (k, reverse, spaced) => {
        const labels = reverse ? [...k.labels].reverse() : k.labels;
        const sep = spaced ? ' , ' : ',';
        const body = labels
          .map(([n, v]) => `${n}${spaced ? ' = ' : '='}"${v.replace(/[\\"]/g, '\\$&')}"`)
          .join(sep);
        const text = labels.length > 0 || spaced ? `${k.name}{${body}}` : k.name;
        const once = canonicalSeriesKey(text);
        expect(canonicalSeriesKey(once)).toBe(once);
        expect(once).toBe(formatSeriesKey(k));
      }),
      { numRuns: 1000 },
    );
  });

  it('isCanonical agrees with the slow path', () => {
    const nearKey = fc
      .array(fc.constantFrom('m', 'a', 'b', '_', '{', '}', '"', '=', ',', '\\', ' ', 'é', '1'), {
        maxLength: 20,
      })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(nearKey, (t) => {
        let slow: string | undefined;
        try {
          slow = formatSeriesKey(parseSeriesKey(t));
        } catch (e) {
          expect(e).toBeInstanceOf(CountError);
        }
        if (isCanonical(t)) expect(slow).toBe(t);
        else if (slow !== undefined) expect(slow).not.toBe(t);
      }),
      { numRuns: 3000 },
    );
  });

  it('random junk throws nothing but CountError', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })),
        (t) => {
          try {
            canonicalSeriesKey(t);
          } catch (e) {
            expect(e).toBeInstanceOf(CountError);
            expect((e as CountError).code).toBe('invalid_series');
          }
        },
      ),
      { numRuns: 3000 },
    );
    for (const junk of [null, undefined, 42, {}, []]) {
      expectInvalid(() => canonicalSeriesKey(junk as unknown as string));
    }
  });
});

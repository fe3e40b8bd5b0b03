import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionFailed } from '../../src/model/assert.js';
import { CountError } from '../../src/model/errors.js';
import type { LabelMatcher, MatchOp, Selector } from '../../src/model/selector.js';
import { parseSeriesKey, seriesKeyFromParts } from '../../src/model/series.js';
import { matchesEmpty, matchesLabels, parseSelector } from '../../src/query/selectors.js';
import { SeriesIndex } from '../../src/storage/series-index.js';

const names = ['cpu', 'mem', 'disk.io', 'cpu.user'];
const labelNames = ['host', 'region', 'dc', 'env'];
const values = ['a', 'b', 'h1', 'h2', 'eu', 'us', 'x.y'];

const seriesArb = fc
  .tuple(
    fc.constantFrom(...names),
    fc.subarray(labelNames),
    fc.array(fc.constantFrom(...values), { minLength: 4, maxLength: 4 }),
  )
  .map(([name, ls, vs]) =>
    seriesKeyFromParts(
      name,
      ls.map((l, k) => [l, vs[k]] as [string, string]),
    ),
  );

const anyMatcherArb: fc.Arbitrary<LabelMatcher> = fc.record({
  name: fc.constantFrom('__name__', ...labelNames),
  op: fc.constantFrom<MatchOp>('=', '!=', '=~', '!~'),
  value: fc.constantFrom('', ...values, ...names, 'h.*', '.+', 'a|b', 'cpu.*', '.*', 'e.'),
});
// Equality matchers on values that exist, so selectors often intersect several postings.
const eqMatcherArb: fc.Arbitrary<LabelMatcher> = fc.oneof(
  fc.constantFrom(...names).map((value) => ({ name: '__name__', op: '=' as const, value })),
  fc
    .tuple(fc.constantFrom(...labelNames), fc.constantFrom(...values))
    .map(([name, value]) => ({ name, op: '=' as const, value })),
);
const matcherArb = fc.oneof(eqMatcherArb, anyMatcherArb);

const selectorArb: fc.Arbitrary<Selector> = fc
  .array(matcherArb, { minLength: 1, maxLength: 4 })
  .filter((s) => s.some((m) => !matchesEmpty(m)));

describe('SeriesIndex', () => {
  it('adds idempotently with stable refs, looks up both ways, removes', () => {
    const ix = new SeriesIndex();
    const a = ix.add('cpu{host="h1"}');
    const b = ix.add('cpu{host="h2"}');
    expect(ix.add('cpu{host="h1"}')).toBe(a);
    expect(a).not.toBe(b);
    expect(ix.size).toBe(2);
    expect(ix.ref('cpu{host="h2"}')).toBe(b);
    expect(ix.key(a)).toBe('cpu{host="h1"}');
    expect(ix.remove('cpu{host="h1"}')).toBe(true);
    expect(ix.remove('cpu{host="h1"}')).toBe(false);
    expect(ix.key(a)).toBeUndefined();
    expect(ix.ref('cpu{host="h1"}')).toBeUndefined();
    expect(ix.select(parseSelector('cpu'))).toEqual(['cpu{host="h2"}']);
    const c = ix.add('cpu{host="h1"}');
    expect(c).not.toBe(a); // refs are never reused
    expect([...ix.keys()]).toEqual(['cpu{host="h2"}', 'cpu{host="h1"}']);
  });

  it('refuses non-canonical keys and invalid selectors', () => {
    const ix = new SeriesIndex();
    expect(() => ix.add('cpu{b="1",a="2"}')).toThrow(AssertionFailed);
    expect(() => ix.select([{ name: 'host', op: '!=', value: 'x' }])).toThrow(CountError);
  });

  it('selects with equality, regex, negation and missing labels', () => {
    const ix = new SeriesIndex();
    for (const k of [
      'cpu.user{host="h1",region="eu"}',
      'cpu.user{host="h2",region="us"}',
      'cpu.user{host="h3"}',
      'cpu.system{host="h1",region="eu"}',
      'mem{host="h1"}',
    ]) {
      ix.add(k);
    }
    expect(ix.select(parseSelector('cpu.user{region!="eu"}'))).toEqual([
      'cpu.user{host="h2",region="us"}',
      'cpu.user{host="h3"}',
    ]);
    expect(ix.select(parseSelector('{__name__=~"cpu\\\\..*",region!="eu"}'))).toEqual([
      'cpu.user{host="h2",region="us"}',
      'cpu.user{host="h3"}',
    ]);
    expect(ix.select(parseSelector('{host="h1"}'))).toEqual([
      'cpu.system{host="h1",region="eu"}',
      'cpu.user{host="h1",region="eu"}',
      'mem{host="h1"}',
    ]);
    expect(ix.select(parseSelector('{region=~".+"}'))).toHaveLength(3);
    expect(ix.select(parseSelector('cpu.user{region=""}'))).toEqual(['cpu.user{host="h3"}']);
    expect(ix.select(parseSelector('cpu.user{host="h1",region="eu"}'))).toEqual([
      'cpu.user{host="h1",region="eu"}',
    ]);
    expect(ix.select(parseSelector('{region="eu",host="h1"}'))).toEqual([
      'cpu.system{host="h1",region="eu"}',
      'cpu.user{host="h1",region="eu"}',
    ]);
    expect(ix.select(parseSelector('nothing'))).toEqual([]);
    expect(ix.select(parseSelector('mem{host="h9"}'))).toEqual([]);
  });

  it('agrees with a brute-force filter on random series, selectors and removals', () => {
    fc.assert(
      fc.property(
        fc.array(seriesArb, { maxLength: 60 }),
        fc.array(selectorArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (keys, selectors, removals) => {
          const ix = new SeriesIndex();
          const live = new Set<string>();
          for (const k of keys) {
            ix.add(k);
            live.add(k);
          }
          const unique = [...new Set(keys)];
          for (const r of removals) {
            if (unique.length === 0) break;
            const k = unique[r % unique.length];
            expect(ix.remove(k)).toBe(live.delete(k));
          }
          expect(ix.size).toBe(live.size);
          for (const s of selectors) {
            const expected = [...live].filter((k) => matchesLabels(s, parseSeriesKey(k))).sort();
            expect(ix.select(s)).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('intersects skewed postings (binary-search path) like a brute-force filter', () => {
    const ix = new SeriesIndex();
    const all: string[] = [];
    for (let k = 0; k < 400; k++) {
      const key = `m{a="1",b="${k % 7}",c="${k % 50 === 0 ? 'y' : 'n'}",id="${k}"}`;
      ix.add(key);
      all.push(key);
    }
    for (const text of ['m{c="y"}', '{a="1",c="y"}', 'm{c="y",b="0"}', '{b="1",c="y",a="1"}']) {
      const s = parseSelector(text);
      const expected = all.filter((k) => matchesLabels(s, parseSeriesKey(k))).sort();
      expect(expected.length).toBeGreaterThan(0);
      expect(ix.select(s)).toEqual(expected);
    }
  });

  it('scales: equality intersection over 20k series picks the small posting', () => {
    const ix = new SeriesIndex();
    for (let h = 0; h < 2000; h++) {
      for (let m = 0; m < 10; m++) ix.add(`m${m}{host="h${h}",region="r${h % 4}"}`);
    }
    const t0 = performance.now();
    let got: string[] = [];
    for (let k = 0; k < 1000; k++) got = ix.select(parseSelector(`m3{host="h77",region="r1"}`));
    expect(got).toEqual(['m3{host="h77",region="r1"}']);
    // 1000 selects of one series among 20k: far below a full scan per select.
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

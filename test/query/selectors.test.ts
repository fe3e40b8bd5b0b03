import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import type { Selector } from '../../src/model/selector.js';
import { parseSeriesKey } from '../../src/model/series.js';
import {
  formatSelector,
  MAX_REGEX_CHARS,
  matchesLabels,
  parseSelector,
  validateSelector,
} from '../../src/query/selectors.js';

function expectInvalid(fn: () => unknown, pattern: RegExp, field = 'selector'): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    expect((e as CountError).code).toBe('invalid_selector');
    expect((e as CountError).field).toBe(field);
    expect((e as CountError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected invalid_selector');
}

const key = (t: string) => parseSeriesKey(t);

describe('parseSelector', () => {
  it('parses a name, a name with labels, and bare matchers', () => {
    expect(parseSelector('cpu.usage_user')).toEqual([
      { name: '__name__', op: '=', value: 'cpu.usage_user' },
    ]);
    expect(parseSelector('cpu.usage_user{host="h1"}')).toEqual([
      { name: '__name__', op: '=', value: 'cpu.usage_user' },
      { name: 'host', op: '=', value: 'h1' },
    ]);
    expect(parseSelector('{__name__=~"cpu\\\\..*", region!="eu", a!~"x", }')).toEqual([
      { name: '__name__', op: '=~', value: 'cpu\\..*' },
      { name: 'region', op: '!=', value: 'eu' },
      { name: 'a', op: '!~', value: 'x' },
    ]);
  });

  it.each([
    ['', /metric name or at least one matcher/],
    ['{}', /metric name or at least one matcher/],
    ['{host=""}', /does not match the empty string/],
    ['{host!="h1"}', /does not match the empty string/],
    ['{host=~".*"}', /does not match the empty string/],
    ['cpu{', /expected a label name at offset 4/],
    ['cpu{host}', /expected =, !=, =~ or !~ .* at offset 8/],
    ['cpu{host=h1}', /expected '"' .* at offset 9/],
    ['cpu{host="h1"', /expected ',' or '}' at offset 13/],
    ['cpu{host="h1}', /unterminated/],
    ['cpu{host=~"("}', /invalid regex/],
    ['cpu{host=~"a)|(.*"}', /invalid regex/],
    ['cpu{host="\\d"}', /invalid escape/],
    ['cpu x', /unexpected "x" at offset 4/],
    ['"cpu"', /expected a metric name or '\{' at offset 0/],
    [`{a=~"${'x'.repeat(MAX_REGEX_CHARS + 1)}"}`, /limit is 1024/],
  ])('rejects %j', (text, pattern) => {
    expectInvalid(() => parseSelector(text), pattern);
  });

  it('accepts selectors that need a non-empty label', () => {
    expect(parseSelector('{host!=""}')).toHaveLength(1);
    expect(parseSelector('{host=~".+"}')).toHaveLength(1);
    expect(parseSelector('{host!~".*"}')).toHaveLength(1);
  });

  it.each([
    ['{a=~"(x)\\\\1"}', /backreference/],
    ['{a=~"(?<n>x)\\\\k<n>"}', /backreference/],
    ['{a=~"x(?=y)"}', /lookaround/],
    ['{a=~"x(?!y)"}', /lookaround/],
    ['{a=~"(?<=y)x"}', /lookaround/],
    ['{a=~"(?<!y)x"}', /lookaround/],
  ])('refuses %s (no linear-time fallback for it)', (text, pattern) => {
    expectInvalid(() => parseSelector(text), pattern);
  });

  it('allows escaped parentheses and classes that look like lookarounds', () => {
    expect(parseSelector('{a=~"\\\\(?=x"}')).toHaveLength(1);
    expect(parseSelector('{a=~"[(?=]x"}')).toHaveLength(1);
    expect(parseSelector('{a=~"[\\\\]1]x"}')).toHaveLength(1);
  });

  it('names the field', () => {
    expectInvalid(() => parseSelector('{', 'select'), /^select: /, 'select');
  });

  it('round-trips through formatSelector', () => {
    const s = parseSelector('{__name__=~"a\\\\.b|\\"q\\"",host!="h1"}');
    expect(parseSelector(formatSelector(s))).toEqual(s);
  });
});

describe('pathological regexes', () => {
  it('finish quickly thanks to the linear-time fallback', () => {
    const t0 = performance.now();
    for (const re of ['(a+)+b', '(a|a)*b', '(a*)*b', `${'.*'.repeat(40)}b`]) {
      const sel = parseSelector(`{v=~"${re}"}`);
      expect(matchesLabels(sel, key(`m{v="${'a'.repeat(60)}"}`))).toBe(false);
      expect(matchesLabels(sel, key(`m{v="${'a'.repeat(60)}b"}`))).toBe(true);
    }
    // Plain backtracking takes minutes on (a+)+b with 60 "a"s.
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe('validateSelector', () => {
  it('rejects malformed matcher lists from the wire', () => {
    expectInvalid(() => validateSelector('cpu'), /list of matchers/);
    expectInvalid(() => validateSelector([{ name: 'a', op: '==', value: 'x' }]), /operator/);
    expectInvalid(() => validateSelector([{ name: '1a', op: '=', value: 'x' }]), /label name/);
    expectInvalid(() => validateSelector([{ name: 'a', op: '=', value: 1 }]), /must be a string/);
    expectInvalid(() => validateSelector([{ name: 'a', op: '=~', value: '[' }]), /invalid regex/);
  });
});

describe('matchesLabels', () => {
  const s = (t: string): Selector => parseSelector(t);
  it('matches names, equality and inequality', () => {
    expect(matchesLabels(s('cpu'), key('cpu'))).toBe(true);
    expect(matchesLabels(s('cpu'), key('cpu2'))).toBe(false);
    expect(matchesLabels(s('cpu{host="h1"}'), key('cpu{host="h1",r="eu"}'))).toBe(true);
    expect(matchesLabels(s('cpu{host="h1"}'), key('cpu{host="h2"}'))).toBe(false);
    expect(matchesLabels(s('cpu{host!="h1"}'), key('cpu{host="h2"}'))).toBe(true);
  });

  it('anchors regexes to the whole value', () => {
    expect(matchesLabels(s('{__name__=~"cpu"}'), key('cpu.usage'))).toBe(false);
    expect(matchesLabels(s('{__name__=~"cpu\\\\..*"}'), key('cpu.usage'))).toBe(true);
    expect(matchesLabels(s('{__name__=~"cpu\\\\..*"}'), key('cpuXusage'))).toBe(false);
    expect(matchesLabels(s('{__name__=~"a|b"}'), key('ab'))).toBe(false);
    expect(matchesLabels(s('{__name__=~"a|b"}'), key('b'))).toBe(true);
    expect(matchesLabels(s('cpu{host!~"h[0-9]+"}'), key('cpu{host="h12"}'))).toBe(false);
    expect(matchesLabels(s('cpu{host!~"h[0-9]+"}'), key('cpu{host="h12x"}'))).toBe(true);
  });

  it('treats a missing label as ""', () => {
    expect(matchesLabels(s('cpu{host=""}'), key('cpu'))).toBe(true);
    expect(matchesLabels(s('cpu{host=""}'), key('cpu{host="h1"}'))).toBe(false);
    expect(matchesLabels(s('cpu{host!="h1"}'), key('cpu'))).toBe(true);
    expect(matchesLabels(s('cpu{host=~"h.*"}'), key('cpu'))).toBe(false);
    expect(matchesLabels(s('cpu{host!~"h.*"}'), key('cpu'))).toBe(true);
    expect(matchesLabels(s('{host!=""}'), key('cpu'))).toBe(false);
  });

  it('matches non-ASCII values', () => {
    expect(matchesLabels(s('{a=~"é.*"}'), key('m{a="é日"}'))).toBe(true);
    expect(matchesLabels(s('{a="日"}'), key('m{a="日"}'))).toBe(true);
  });

  it('honours a leading (?i)', () => {
    expect(matchesLabels(s('{host=~"(?i)H1"}'), key('m{host="h1"}'))).toBe(true);
    expect(matchesLabels(s('{host=~"H1"}'), key('m{host="h1"}'))).toBe(false);
  });
});

describe('properties', () => {
  it('random junk throws nothing but invalid_selector', () => {
    const near = fc
      .array(
        fc.constantFrom(
          'c',
          'a',
          '_',
          '{',
          '}',
          '"',
          '=',
          '!',
          '~',
          ',',
          '\\',
          ' ',
          '.',
          '*',
          '(',
          '[',
        ),
        { maxLength: 24 },
      )
      .map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(near, fc.string({ maxLength: 30 })), (t) => {
        try {
          parseSelector(t);
        } catch (e) {
          expect(e).toBeInstanceOf(CountError);
          expect((e as CountError).code).toBe('invalid_selector');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('parseSelector(formatSelector(s)) == s', () => {
    const matcher = fc.record({
      name: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/),
      op: fc.constantFrom('=' as const, '!=' as const, '=~' as const, '!~' as const),
      value: fc
        .string({ maxLength: 10 })
        .filter((v) => !/[\u0000-\u001f\u007f\ud800-\udfff]/u.test(v)),
    });
    fc.assert(
      fc.property(fc.array(matcher, { minLength: 1, maxLength: 4 }), (ms) => {
        let valid: Selector;
        try {
          valid = validateSelector(ms);
        } catch {
          return; // regex that does not compile, or nothing selective
        }
        expect(parseSelector(formatSelector(valid))).toEqual(valid);
      }),
      { numRuns: 1000 },
    );
  });
});

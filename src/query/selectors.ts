import { setFlagsFromString } from 'node:v8';
import { CountError } from '../model/errors.js';
import { type LabelMatcher, type MatchOp, NAME_LABEL, type Selector } from '../model/selector.js';
import {
  LABEL_NAME_PATTERN,
  METRIC_NAME_PATTERN,
  type SeriesKey,
  scanQuoted,
} from '../model/series.js';

/**
 * Selectors (DESIGN.md): `cpu.usage_user`, `cpu.usage_user{host="h1"}`,
 * `{__name__=~"cpu\\..*",region!="eu"}`. Matchers `=`, `!=`, `=~`, `!~`; all must hold.
 * A label a series lacks counts as "" (as in Prometheus). Regexes use JavaScript syntax with the
 * `s` flag (a leading `(?i)` adds `i`) and are anchored: they must match the whole value.
 */

/** Longest regex source accepted; bounds compile time and the worst case of backtracking. */
export const MAX_REGEX_CHARS = 1024;
/** Longest selector text accepted. */
export const MAX_SELECTOR_CHARS = 16 * 1024;
/** Most matchers in one selector. */
export const MAX_MATCHERS = 64;

const OPS: ReadonlySet<string> = new Set<MatchOp>(['=', '!=', '=~', '!~']);

export type ValuePredicate = (value: string) => boolean;

// Compiled predicates per matcher object, so a selector parsed once compiles its regexes once;
// matchers decoded from the network are compiled on first use.
const compiled = new WeakMap<LabelMatcher, ValuePredicate>();
// Regexes by source, shared between equal matchers of different selectors. Bounded: cleared
// when full, which only costs recompiling.
const MAX_CACHED_REGEXES = 1024;
const regexCache = new Map<string, RegExp>();

function fail(field: string, message: string): CountError {
  return new CountError('invalid_selector', `${field}: ${message}`, { field });
}

// JavaScript regexes backtrack: `(a+)+b` against 30 "a"s takes seconds, so one query could
// stall the node. With this V8 flag a match that backtracks excessively is re-run on V8's
// linear-time engine. That engine cannot take the `u` flag, backreferences or lookarounds, so
// regexes are compiled without `u` and validation refuses the other two (RE2, which Prometheus
// uses, has neither).
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** Why a regex source is refused beyond syntax (backreferences, lookarounds), or undefined. */
function unsupportedRegexFeature(source: string): string | undefined {
  const n = source.length;
  for (let i = 0; i < n; i++) {
    const c = source[i];
    if (c === '\\') {
      const e = source[i + 1];
      if ((e >= '1' && e <= '9') || (e === 'k' && source[i + 2] === '<')) {
        return `backreference at offset ${i}`;
      }
      i++;
    } else if (c === '[') {
      // skip the character class; ']' right after '[' or '[^' closes an empty class in JS
      i++;
      while (i < n && source[i] !== ']') {
        if (source[i] === '\\') i++;
        i++;
      }
    } else if (c === '(' && source[i + 1] === '?') {
      const kind = source.slice(i + 2, i + 4);
      if (kind[0] === '=' || kind[0] === '!' || kind === '<=' || kind === '<!') {
        return `lookaround at offset ${i}`;
      }
    }
  }
  return undefined;
}

function compileRegex(source: string, field: string): RegExp {
  let re = regexCache.get(source);
  if (re !== undefined) return re;
  if (source.length > MAX_REGEX_CHARS) {
    throw fail(field, `regex is ${source.length} characters long; the limit is ${MAX_REGEX_CHARS}`);
  }
  // A leading (?i), as in RE2, makes the match case-insensitive.
  const caseless = source.startsWith('(?i)');
  const body = caseless ? source.slice(4) : source;
  try {
    // Compiled alone first, so a source like `a)|(b` cannot break out of the anchoring group.
    new RegExp(body, 's');
    re = new RegExp(`^(?:${body})$`, caseless ? 'si' : 's');
  } catch (e) {
    throw fail(
      field,
      `invalid regex ${JSON.stringify(source)}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const unsupported = unsupportedRegexFeature(body);
  if (unsupported !== undefined) {
    throw fail(
      field,
      `regex ${JSON.stringify(source)} uses a ${unsupported}; backreferences and lookarounds are not supported (as in Prometheus)`,
    );
  }
  if (regexCache.size >= MAX_CACHED_REGEXES) regexCache.clear();
  regexCache.set(source, re);
  return re;
}

/** The compiled test of one matcher against a label value ("" for a missing label). */
export function matcherPredicate(m: LabelMatcher, field = 'selector'): ValuePredicate {
  let p = compiled.get(m);
  if (p !== undefined) return p;
  const v = m.value;
  switch (m.op) {
    case '=':
      p = (x) => x === v;
      break;
    case '!=':
      p = (x) => x !== v;
      break;
    case '=~': {
      const re = compileRegex(v, field);
      p = (x) => re.test(x);
      break;
    }
    case '!~': {
      const re = compileRegex(v, field);
      p = (x) => !re.test(x);
      break;
    }
    default:
      throw fail(field, `unknown match operator ${JSON.stringify(m.op)} (use =, !=, =~ or !~)`);
  }
  compiled.set(m, p);
  return p;
}

/** True when the matcher accepts "", i.e. also series that lack the label. */
export function matchesEmpty(m: LabelMatcher): boolean {
  return matcherPredicate(m)('');
}

/**
 * Checks a selector built in code or decoded from a peer: shape, label names, operators, regexes,
 * and that it cannot select every series by accident. Returns it unchanged.
 */
export function validateSelector(selector: unknown, field = 'selector'): Selector {
  if (!Array.isArray(selector)) throw fail(field, 'a selector must be a list of matchers');
  if (selector.length > MAX_MATCHERS) {
    throw fail(field, `${selector.length} matchers; the limit is ${MAX_MATCHERS}`);
  }
  let selective = false;
  for (const m of selector as unknown[]) {
    if (typeof m !== 'object' || m === null) throw fail(field, 'a matcher must be an object');
    const { name, op, value } = m as Record<string, unknown>;
    if (typeof name !== 'string' || !LABEL_NAME_PATTERN.test(name)) {
      throw fail(field, `invalid label name ${JSON.stringify(name)}`);
    }
    if (typeof op !== 'string' || !OPS.has(op)) {
      throw fail(field, `unknown match operator ${JSON.stringify(op)} (use =, !=, =~ or !~)`);
    }
    if (typeof value !== 'string') throw fail(field, `the value for ${name} must be a string`);
    if (!matcherPredicate(m as LabelMatcher, field)('')) selective = true;
  }
  if (!selective) {
    throw fail(
      field,
      'a selector needs a metric name or at least one matcher that does not match the empty string (e.g. host="h1" or host=~".+"), so that it cannot select every series',
    );
  }
  return selector as Selector;
}

/** Parses selector text; throws CountError('invalid_selector') naming `field` and the offset. */
export function parseSelector(text: string, field = 'selector'): Selector {
  if (typeof text !== 'string') throw fail(field, `must be a string, got ${typeof text}`);
  if (text.length > MAX_SELECTOR_CHARS) {
    throw fail(field, `is ${text.length} characters long; the limit is ${MAX_SELECTOR_CHARS}`);
  }
  const at = (i: number) => (i < text.length ? JSON.stringify(text[i]) : 'end of text');
  const matchers: LabelMatcher[] = [];
  const n = text.length;
  let i = skipSpace(text, 0);
  let j = i;
  while (j < n && isNameChar(text.charCodeAt(j))) j++;
  if (j > i) {
    matchers.push({ name: NAME_LABEL, op: '=', value: text.slice(i, j) });
    i = skipSpace(text, j);
  }
  if (i < n && text[i] === '{') {
    i++;
    for (;;) {
      i = skipSpace(text, i);
      if (i < n && text[i] === '}') {
        i++;
        break;
      }
      const ns = i;
      while (i < n && isLabelChar(text.charCodeAt(i), i === ns)) i++;
      if (i === ns) {
        throw fail(field, `expected a label name at offset ${i}, found ${at(i)}`);
      }
      const name = text.slice(ns, i);
      i = skipSpace(text, i);
      let op: MatchOp;
      if (text.startsWith('=~', i)) op = '=~';
      else if (text.startsWith('!~', i)) op = '!~';
      else if (text.startsWith('!=', i)) op = '!=';
      else if (text[i] === '=') op = '=';
      else {
        throw fail(
          field,
          `expected =, !=, =~ or !~ after label name ${JSON.stringify(name)} at offset ${i}, found ${at(i)}`,
        );
      }
      i = skipSpace(text, i + op.length);
      if (text[i] !== '"') {
        throw fail(
          field,
          `expected '"' to open the value for ${JSON.stringify(name)} at offset ${i}, found ${at(i)}`,
        );
      }
      const [value, next] = scanQuoted(text, i, `matcher ${JSON.stringify(name)}`, (m) =>
        fail(field, m),
      );
      matchers.push({ name, op, value });
      if (matchers.length > MAX_MATCHERS) {
        throw fail(field, `more than ${MAX_MATCHERS} matchers`);
      }
      i = skipSpace(text, next);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        break;
      }
      throw fail(field, `expected ',' or '}' at offset ${i}, found ${at(i)}`);
    }
    i = skipSpace(text, i);
  }
  if (i !== n) {
    throw fail(
      field,
      matchers.length === 0
        ? `expected a metric name or '{' at offset ${i}, found ${at(i)}`
        : `unexpected ${at(i)} at offset ${i}`,
    );
  }
  return validateSelector(matchers, field);
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n')) i++;
  return i;
}

function isNameChar(c: number): boolean {
  return c < 128 && METRIC_NAME_PATTERN.test(String.fromCharCode(c));
}

function isLabelChar(c: number, first: boolean): boolean {
  const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
  return first ? alpha : alpha || (c >= 48 && c <= 57);
}

/** The value of a label on a key ("" when absent); `__name__` is the metric name. */
export function labelValue(key: SeriesKey, name: string): string {
  if (name === NAME_LABEL) return key.name;
  for (const [ln, lv] of key.labels) if (ln === name) return lv;
  return '';
}

/** True when every matcher of `selector` holds for `key`. */
export function matchesLabels(selector: Selector, key: SeriesKey): boolean {
  for (const m of selector) {
    if (!matcherPredicate(m)(labelValue(key, m.name))) return false;
  }
  return true;
}

/** Selector text for a matcher list (for logs, errors and peers that want text). */
export function formatSelector(selector: Selector): string {
  const parts = selector.map((m) => `${m.name}${m.op}"${m.value.replace(/[\\"]/g, '\\$&')}"`);
  return `{${parts.join(',')}}`;
}

import { CountError } from './errors.js';

/**
 * Series keys (DESIGN.md, data model): `name` or `name{label="value",...}`.
 *
 * - name: one or more of [A-Za-z0-9_.:-]
 * - label name: [A-Za-z_][A-Za-z0-9_]*, not starting with `__` (reserved: `__name__` is the
 *   metric name in selectors)
 * - label value: non-empty, quoted, with `\"` and `\\` as the only escapes; no control characters
 *   (U+0000-U+001F, U+007F) and no lone UTF-16 surrogates, so a key survives JSON, URLs and
 *   line-based formats unchanged
 * - canonical form: labels sorted by name, no whitespace, no empty `{}`; at most 256 UTF-8 bytes
 *
 * Parsing also accepts spaces and tabs between tokens inside the braces, a trailing comma and
 * empty braces; the canonical form drops them.
 */
export interface SeriesKey {
  name: string;
  /** Sorted by label name when produced by `parseSeriesKey`. */
  labels: ReadonlyArray<readonly [string, string]>;
}

export const MAX_SERIES_KEY_BYTES = 256;

/** A metric name: the characters a series key's name may use. */
export const METRIC_NAME_PATTERN = /^[A-Za-z0-9_.:-]+$/;
/** The shape of a label name (series keys also refuse names starting with `__`). */
export const LABEL_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Raw text longer than this is refused before parsing, bounding the work spent on junk. */
const MAX_SERIES_TEXT_CHARS = 4096;

// Character classes as lookup tables over ASCII (code < 128).
const NAME_CHAR = new Uint8Array(128);
const LABEL_START = new Uint8Array(128);
const LABEL_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alpha = /[A-Za-z]/.test(ch);
  const digit = /[0-9]/.test(ch);
  NAME_CHAR[c] = alpha || digit || ch === '_' || ch === '.' || ch === ':' || ch === '-' ? 1 : 0;
  LABEL_START[c] = alpha || ch === '_' ? 1 : 0;
  LABEL_CHAR[c] = alpha || digit || ch === '_' ? 1 : 0;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const UNDERSCORE = 0x5f;

function isControl(c: number): boolean {
  return c < 0x20 || c === 0x7f;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** UTF-8 bytes of one UTF-16 code unit (a surrogate pair counts 2 + 2). */
function utf8Units(c: number): number {
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdfff) return 2;
  return 3;
}

function snippet(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}

function charAt(text: string, i: number): string {
  return i < text.length ? JSON.stringify(text[i]) : 'end of text';
}

function invalid(field: string, text: string, what: string): CountError {
  return new CountError('invalid_series', `${field} ${snippet(text)}: ${what}`, { field });
}

/**
 * Parses a series key; labels come back sorted by name. Throws CountError('invalid_series')
 * naming `field` and the offset (0-based) of the problem.
 */
export function parseSeriesKey(text: string, field = 'series'): SeriesKey {
  if (typeof text !== 'string') {
    throw new CountError('invalid_series', `${field} must be a string, got ${typeof text}`, {
      field,
    });
  }
  if (text.length === 0) throw invalid(field, text, 'a series key must not be empty');
  if (text.length > MAX_SERIES_TEXT_CHARS) {
    throw invalid(
      field,
      text,
      `is ${text.length} characters long; a series key is at most ${MAX_SERIES_KEY_BYTES} bytes`,
    );
  }
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 128 || NAME_CHAR[c] === 0) break;
    i++;
  }
  if (i === 0) {
    if (text.charCodeAt(0) === OPEN) {
      throw invalid(field, text, 'a series key starts with a metric name such as cpu.usage');
    }
    throw invalid(
      field,
      text,
      `invalid character ${charAt(text, 0)} at offset 0 in the metric name (allowed: A-Z a-z 0-9 _ . : -)`,
    );
  }
  const name = text.slice(0, i);
  if (i === n) return checkLength({ name, labels: [] }, field, text);
  if (text.charCodeAt(i) !== OPEN) {
    throw invalid(
      field,
      text,
      `invalid character ${charAt(text, i)} at offset ${i} in the metric name (allowed: A-Z a-z 0-9 _ . : -)`,
    );
  }
  i++;
  const labels: [string, string][] = [];
  for (;;) {
    i = skipSpace(text, i);
    if (i < n && text.charCodeAt(i) === CLOSE) {
      i++;
      break;
    }
    // label name
    const nameStart = i;
    if (i >= n || text.charCodeAt(i) >= 128 || LABEL_START[text.charCodeAt(i)] === 0) {
      throw invalid(
        field,
        text,
        `expected a label name ([A-Za-z_][A-Za-z0-9_]*) at offset ${i}, found ${charAt(text, i)}`,
      );
    }
    i++;
    while (i < n && text.charCodeAt(i) < 128 && LABEL_CHAR[text.charCodeAt(i)] === 1) i++;
    const labelName = text.slice(nameStart, i);
    if (labelName.charCodeAt(0) === UNDERSCORE && labelName.charCodeAt(1) === UNDERSCORE) {
      throw invalid(
        field,
        text,
        `label name ${JSON.stringify(labelName)} at offset ${nameStart} starts with "__", which is reserved`,
      );
    }
    i = skipSpace(text, i);
    if (i >= n || text.charCodeAt(i) !== EQUALS) {
      throw invalid(
        field,
        text,
        `expected '=' after label name ${JSON.stringify(labelName)} at offset ${i}, found ${charAt(text, i)}`,
      );
    }
    i = skipSpace(text, i + 1);
    if (i >= n || text.charCodeAt(i) !== QUOTE) {
      throw invalid(
        field,
        text,
        `expected '"' to open the value of label ${JSON.stringify(labelName)} at offset ${i}, found ${charAt(text, i)}`,
      );
    }
    const [value, next] = scanQuoted(text, i, `label ${JSON.stringify(labelName)}`, (m) =>
      invalid(field, text, m),
    );
    if (value.length === 0) {
      throw invalid(
        field,
        text,
        `label ${JSON.stringify(labelName)} at offset ${nameStart} has an empty value; omit the label instead`,
      );
    }
    labels.push([labelName, value]);
    i = skipSpace(text, next);
    if (i < n && text.charCodeAt(i) === COMMA) {
      i++;
      continue;
    }
    if (i < n && text.charCodeAt(i) === CLOSE) {
      i++;
      break;
    }
    throw invalid(field, text, `expected ',' or '}' at offset ${i}, found ${charAt(text, i)}`);
  }
  if (i !== n) throw invalid(field, text, `unexpected text after '}' at offset ${i}`);
  sortAndCheckDuplicates(labels, (m) => invalid(field, text, m));
  return checkLength({ name, labels }, field, text);
}

function skipSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09) break;
    i++;
  }
  return i;
}

/**
 * Reads a double-quoted string starting at `open` (the opening quote) with `\"` and `\\` escapes.
 * Returns the unescaped value and the offset after the closing quote. Shared with selectors.
 */
export function scanQuoted(
  text: string,
  open: number,
  what: string,
  fail: (message: string) => CountError,
): [string, number] {
  const n = text.length;
  let i = open + 1;
  let runStart = i;
  let out: string | undefined;
  for (;;) {
    if (i >= n) throw fail(`unterminated value of ${what} starting at offset ${open}`);
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const value = out === undefined ? text.slice(runStart, i) : out + text.slice(runStart, i);
      return [value, i + 1];
    }
    if (c === BACKSLASH) {
      const e = i + 1 < n ? text.charCodeAt(i + 1) : -1;
      if (e !== QUOTE && e !== BACKSLASH) {
        throw fail(
          `invalid escape ${i + 1 < n ? JSON.stringify(`\\${text[i + 1]}`) : 'at end of text'} at offset ${i} in the value of ${what} (only \\" and \\\\ are allowed)`,
        );
      }
      out = (out ?? '') + text.slice(runStart, i) + (e === QUOTE ? '"' : '\\');
      i += 2;
      runStart = i;
      continue;
    }
    if (isControl(c)) {
      throw fail(
        `control character U+${c.toString(16).padStart(4, '0').toUpperCase()} at offset ${i} in the value of ${what}`,
      );
    }
    if (isHighSurrogate(c)) {
      if (i + 1 < n && isLowSurrogate(text.charCodeAt(i + 1))) {
        i += 2;
        continue;
      }
      throw fail(`lone UTF-16 surrogate at offset ${i} in the value of ${what}`);
    }
    if (isLowSurrogate(c)) {
      throw fail(`lone UTF-16 surrogate at offset ${i} in the value of ${what}`);
    }
    i++;
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortAndCheckDuplicates(
  labels: [string, string][],
  fail: (message: string) => CountError,
): void {
  // Keys have few labels: insertion sort beats Array.prototype.sort with a comparator there.
  if (labels.length > 16) labels.sort((x, y) => compareNames(x[0], y[0]));
  else {
    for (let k = 1; k < labels.length; k++) {
      const item = labels[k];
      let j = k - 1;
      while (j >= 0 && labels[j][0] > item[0]) {
        labels[j + 1] = labels[j];
        j--;
      }
      labels[j + 1] = item;
    }
  }
  for (let k = 1; k < labels.length; k++) {
    if (labels[k][0] === labels[k - 1][0]) {
      throw fail(`label ${JSON.stringify(labels[k][0])} appears more than once`);
    }
  }
}

/** UTF-8 byte length of the canonical text of a validated, sorted key. */
function canonicalBytes(key: SeriesKey): number {
  let bytes = utf8Length(key.name);
  if (key.labels.length === 0) return bytes;
  bytes += 2 + key.labels.length - 1; // braces and commas
  for (const [ln, lv] of key.labels) {
    bytes += ln.length + 3 + utf8Length(lv); // name, '=', two quotes, value
    for (let k = 0; k < lv.length; k++) {
      const c = lv.charCodeAt(k);
      if (c === QUOTE || c === BACKSLASH) bytes++;
    }
  }
  return bytes;
}

function utf8Length(s: string): number {
  let bytes = 0;
  for (let k = 0; k < s.length; k++) bytes += utf8Units(s.charCodeAt(k));
  return bytes;
}

function checkLength(key: SeriesKey, field: string, text: string): SeriesKey {
  const bytes = canonicalBytes(key);
  if (bytes > MAX_SERIES_KEY_BYTES) {
    throw invalid(
      field,
      text,
      `is ${bytes} bytes in canonical form; a series key is at most ${MAX_SERIES_KEY_BYTES} bytes`,
    );
  }
  return key;
}

function escapeValue(v: string): string {
  for (let k = 0; k < v.length; k++) {
    const c = v.charCodeAt(k);
    if (c === QUOTE || c === BACKSLASH) return v.replace(/[\\"]/g, '\\$&');
  }
  return v;
}

/** Canonical text of a key. Validates the parts (throws invalid_series) and sorts the labels. */
export function formatSeriesKey(key: SeriesKey): string {
  return seriesKeyFromParts(key.name, key.labels as Iterable<[string, string]>);
}

function formatSorted(name: string, labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return name;
  let out = `${name}{`;
  for (let k = 0; k < labels.length; k++) {
    if (k > 0) out += ',';
    out += `${labels[k][0]}="${escapeValue(labels[k][1])}"`;
  }
  return `${out}}`;
}

/**
 * Validates a name and labels given separately (line protocol, JSON) and returns the canonical
 * key. Throws CountError('invalid_series') naming `field`.
 */
export function seriesKeyFromParts(
  name: string,
  labels: Iterable<[string, string]>,
  field = 'series',
): string {
  const fail = (m: string) =>
    new CountError('invalid_series', `${field}: ${m}`, {
      field,
    });
  if (typeof name !== 'string' || name.length === 0) {
    throw fail('the metric name must be a non-empty string');
  }
  for (let k = 0; k < name.length; k++) {
    const c = name.charCodeAt(k);
    if (c >= 128 || NAME_CHAR[c] === 0) {
      throw fail(
        `invalid character ${JSON.stringify(name[k])} at offset ${k} in the metric name ${snippet(name)} (allowed: A-Z a-z 0-9 _ . : -)`,
      );
    }
  }
  const list: [string, string][] = [];
  for (const pair of labels) {
    if (list.length > MAX_SERIES_KEY_BYTES) throw fail('too many labels for a 256-byte key');
    const [ln, lv] = pair;
    checkLabelName(ln, fail);
    checkLabelValue(ln, lv, fail);
    list.push([ln, lv]);
  }
  sortAndCheckDuplicates(list, fail);
  const key = { name, labels: list };
  const bytes = canonicalBytes(key);
  if (bytes > MAX_SERIES_KEY_BYTES) {
    throw fail(
      `the series key is ${bytes} bytes in canonical form; a series key is at most ${MAX_SERIES_KEY_BYTES} bytes`,
    );
  }
  return formatSorted(name, list);
}

function checkLabelName(ln: unknown, fail: (m: string) => CountError): asserts ln is string {
  if (typeof ln !== 'string' || ln.length === 0) {
    throw fail('a label name must be a non-empty string');
  }
  const c0 = ln.charCodeAt(0);
  let ok = c0 < 128 && LABEL_START[c0] === 1;
  for (let k = 1; ok && k < ln.length; k++) {
    const c = ln.charCodeAt(k);
    ok = c < 128 && LABEL_CHAR[c] === 1;
  }
  if (!ok) {
    throw fail(`invalid label name ${snippet(ln)} (allowed: [A-Za-z_][A-Za-z0-9_]*)`);
  }
  if (c0 === UNDERSCORE && ln.charCodeAt(1) === UNDERSCORE) {
    throw fail(`label name ${JSON.stringify(ln)} starts with "__", which is reserved`);
  }
}

function checkLabelValue(ln: string, lv: unknown, fail: (m: string) => CountError): void {
  if (typeof lv !== 'string')
    throw fail(`the value of label ${JSON.stringify(ln)} must be a string`);
  if (lv.length === 0) {
    throw fail(`label ${JSON.stringify(ln)} has an empty value; omit the label instead`);
  }
  for (let k = 0; k < lv.length; k++) {
    const c = lv.charCodeAt(k);
    if (isControl(c)) {
      throw fail(
        `control character U+${c.toString(16).padStart(4, '0').toUpperCase()} at offset ${k} in the value of label ${JSON.stringify(ln)}`,
      );
    }
    if (isHighSurrogate(c) && k + 1 < lv.length && isLowSurrogate(lv.charCodeAt(k + 1))) {
      k++;
    } else if (isHighSurrogate(c) || isLowSurrogate(c)) {
      throw fail(
        `lone UTF-16 surrogate at offset ${k} in the value of label ${JSON.stringify(ln)}`,
      );
    }
  }
}

/**
 * Canonical text of a series key given as text. The write path calls this per point, so text
 * that is already canonical is recognised in one pass without allocating.
 */
export function canonicalSeriesKey(text: string, field = 'series'): string {
  if (typeof text === 'string' && isCanonical(text)) return text;
  const key = parseSeriesKey(text, field);
  return formatSorted(key.name, key.labels);
}

/** True when `text` is a valid key in canonical form. Never throws; false means "not sure". */
export function isCanonical(text: string): boolean {
  const n = text.length;
  if (n === 0) return false;
  let bytes = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 128 || NAME_CHAR[c] === 0) break;
    i++;
  }
  if (i === 0) return false;
  bytes = i;
  if (i === n) return bytes <= MAX_SERIES_KEY_BYTES;
  if (text.charCodeAt(i) !== OPEN) return false;
  i++;
  bytes++;
  let prevStart = -1;
  let prevEnd = -1;
  for (;;) {
    const ls = i;
    if (i >= n) return false;
    let c = text.charCodeAt(i);
    if (c >= 128 || LABEL_START[c] === 0) return false;
    if (c === UNDERSCORE && text.charCodeAt(i + 1) === UNDERSCORE) return false;
    i++;
    while (i < n) {
      c = text.charCodeAt(i);
      if (c >= 128 || LABEL_CHAR[c] === 0) break;
      i++;
    }
    const le = i;
    if (prevStart >= 0 && compareRanges(text, prevStart, prevEnd, ls, le) >= 0) return false;
    prevStart = ls;
    prevEnd = le;
    if (i + 1 >= n || text.charCodeAt(i) !== EQUALS || text.charCodeAt(i + 1) !== QUOTE) {
      return false;
    }
    bytes += le - ls + 2;
    i += 2;
    const vs = i;
    for (;;) {
      if (i >= n) return false;
      c = text.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        const e = text.charCodeAt(i + 1);
        if (e !== QUOTE && e !== BACKSLASH) return false;
        bytes += 2;
        i += 2;
        continue;
      }
      if (isControl(c)) return false;
      if (isHighSurrogate(c)) {
        if (!isLowSurrogate(text.charCodeAt(i + 1))) return false;
        bytes += 4;
        i += 2;
        continue;
      }
      if (isLowSurrogate(c)) return false;
      bytes += utf8Units(c);
      i++;
    }
    if (i === vs) return false; // empty value
    i++;
    bytes++;
    if (i >= n) return false;
    c = text.charCodeAt(i);
    i++;
    bytes++;
    if (c === CLOSE) return i === n && bytes <= MAX_SERIES_KEY_BYTES;
    if (c !== COMMA) return false;
    if (bytes > MAX_SERIES_KEY_BYTES) return false;
  }
}

/** Compares text[a0,a1) with text[b0,b1) by UTF-16 code units. */
function compareRanges(text: string, a0: number, a1: number, b0: number, b1: number): number {
  const la = a1 - a0;
  const lb = b1 - b0;
  const m = Math.min(la, lb);
  for (let k = 0; k < m; k++) {
    const d = text.charCodeAt(a0 + k) - text.charCodeAt(b0 + k);
    if (d !== 0) return d;
  }
  return la - lb;
}

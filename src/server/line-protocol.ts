import type { PointBatch } from '../model/batch.js';
import { CountError, type ErrorCode, isCountError } from '../model/errors.js';
import { MAX_TIMESTAMP_EXCLUSIVE } from '../model/point.js';
import { seriesKeyFromParts } from '../model/series.js';
import {
  FNV_OFFSET,
  FNV_PRIME,
  ParsedBatch,
  type SeriesKeyBuilder,
  SeriesKeyCache,
  type SeriesSection,
} from './series-key-cache.js';

export { type SeriesKeyBuilder, SeriesKeyCache } from './series-key-cache.js';

/**
 * InfluxDB line protocol -> PointBatch, on the ingest hot path.
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * The parser walks the bytes with indexOf/charCode compares and never builds a per-point
 * object. Canonical series keys come from a SeriesKeyCache shared across requests: a line's
 * series section (measurement + tags) is looked up by its raw bytes, each field key by its raw
 * bytes inside that entry, so steady-state ingest (the same series every few seconds) builds
 * no key at all. Points go straight into the batch's columns. Any bad line rejects the whole
 * request: the caller writes nothing unless this returns.
 */
export type Precision = 'ns' | 'us' | 'ms' | 's';

/** `cpu,host=h1 usage_user=1.5` is the series `cpu.usage_user{host="h1"}`. */
export const influxSeriesKey: SeriesKeyBuilder = (measurement, tags, field) =>
  seriesKeyFromParts(`${measurement}.${field}`, tags);

export interface LineProtocolOptions {
  precision: Precision;
  /** Timestamp (ms) for lines that carry none: the server's clock when the request arrived. */
  nowMs: number;
  /** Keys of earlier requests (the server keeps one); a fresh influxSeriesKey cache if absent. */
  cache?: SeriesKeyCache;
}

/** Accepts the precisions of the v1 (`n`, `u`) and v2 (`ns`, `us`) APIs. */
export function parsePrecision(text: string | undefined, field = 'precision'): Precision {
  switch (text) {
    case undefined:
    case '':
    case 'n':
    case 'ns':
      return 'ns';
    case 'u':
    case 'us':
    case 'µ':
    case 'µs':
      return 'us';
    case 'ms':
      return 'ms';
    case 's':
      return 's';
    default:
      throw new CountError(
        'invalid_parameter',
        `${field} must be one of ns, us, u, ms, s, got ${JSON.stringify(text)}`,
        { field },
      );
  }
}

const NL = 10;
const CR = 13;
const TAB = 9;
const SP = 32;
const DQ = 34;
const HASH = 35;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const D0 = 48;
const D9 = 57;
const EQ = 61;
const BSL = 92;
const LOWER_E = 101;
const UPPER_E = 69;
const LOWER_I = 105;
const LOWER_U = 117;

/** Digits of the unit dropped to reach milliseconds (negative: multiply). */
const PRECISION_DROP: Record<Precision, number> = { ns: 6, us: 3, ms: 0, s: -3 };

/** Exact powers of ten as doubles (10^22 is the largest exactly representable). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

const INT64_MAX = '9223372036854775807';
const INT64_MIN_ABS = '9223372036854775808';
const UINT64_MAX = '18446744073709551615';

/** Thrown inside the parser; converted to a CountError naming the line. */
class LineError {
  constructor(
    readonly message: string,
    readonly code: ErrorCode = 'invalid_line_protocol',
  ) {}
}

/** Parses a whole request body. Throws CountError (400, naming the line) on the first bad line. */
export function parseLineProtocol(input: Buffer, options: LineProtocolOptions): PointBatch {
  const parser = new LineParser(input, options);
  return parser.parse();
}

class LineParser {
  private readonly input: Buffer;
  private readonly nowMs: number;
  private readonly drop: number;
  private readonly cache: SeriesKeyCache;
  readonly batch: ParsedBatch;

  constructor(input: Buffer, options: LineProtocolOptions) {
    this.input = input;
    this.nowMs = options.nowMs;
    this.drop = PRECISION_DROP[options.precision];
    this.cache = options.cache ?? new SeriesKeyCache(influxSeriesKey);
    // Lines with many fields take ~20 bytes a point: size for that so the batch rarely grows.
    this.batch = new ParsedBatch(Math.max(16, Math.min(1 << 20, (input.length / 16) | 0)));
    this.cache.beginRequest(this.batch);
  }

  parse(): PointBatch {
    const input = this.input;
    const n = input.length;
    let pos = 0;
    let line = 0;
    while (pos < n) {
      line++;
      let eol = input.indexOf(NL, pos);
      if (eol < 0) eol = n;
      let end = eol;
      if (end > pos && input[end - 1] === CR) end--;
      let start = pos;
      while (start < end && (input[start] === SP || input[start] === TAB)) start++;
      if (start < end && input[start] !== HASH) {
        try {
          this.parseLine(start, end);
        } catch (e) {
          throw lineFailure(e, line);
        }
      }
      pos = eol + 1;
    }
    return this.batch;
  }

  private parseLine(start: number, end: number): void {
    const input = this.input;
    // The series section ends at the first unescaped space; hash it on the way.
    let i = start;
    let hash = FNV_OFFSET;
    while (i < end) {
      const c = input[i];
      if (c === SP) break;
      hash = Math.imul(hash ^ c, FNV_PRIME);
      if (c === BSL && i + 1 < end) {
        hash = Math.imul(hash ^ input[i + 1], FNV_PRIME);
        i += 2;
      } else {
        i++;
      }
    }
    if (i >= end) throw new LineError('expected a space and a field set after the measurement');
    const seriesEnd = i;
    const cache = this.cache;
    const section =
      cache.find(hash, input, start, seriesEnd) ?? addSection(cache, hash, input, start, seriesEnd);
    const batch = this.batch;
    const first = batch.length;

    // Field set.
    i = seriesEnd;
    while (i < end && input[i] === SP) i++;
    if (i >= end) throw new LineError('missing field set');
    for (let fieldNo = 0; ; fieldNo++) {
      const keyStart = i;
      while (i < end) {
        const c = input[i];
        if (c === EQ || c === SP || c === COMMA) break;
        i += c === BSL ? 2 : 1;
      }
      if (i >= end || input[i] !== EQ) {
        throw new LineError(
          `field ${JSON.stringify(this.text(keyStart, Math.min(i, end)))} has no value`,
        );
      }
      if (i === keyStart) throw new LineError('empty field key');
      const keyEnd = i;
      i++; // '='
      const valueStart = i;
      if (i < end && input[i] === DQ) {
        throw new LineError(
          `string field values are not supported (field ${JSON.stringify(unescapeKey(input, keyStart, keyEnd, true))}); Count stores numbers only`,
        );
      }
      while (i < end) {
        const c = input[i];
        if (c === COMMA || c === SP) break;
        i++;
      }
      const value = parseFieldValue(input, valueStart, i, keyStart, keyEnd);
      const id = this.fieldId(section, fieldNo, keyStart, keyEnd);
      batch.addById(id, 0, value);
      if (i >= end || input[i] === SP) break;
      i++; // ','
      if (i >= end || input[i] === SP) throw new LineError('trailing comma after the last field');
    }

    // Optional timestamp.
    while (i < end && input[i] === SP) i++;
    let ts = this.nowMs;
    if (i < end) {
      const tsStart = i;
      while (i < end && input[i] !== SP && input[i] !== TAB) i++;
      ts = parseTimestamp(input, tsStart, i, this.drop);
      while (i < end && (input[i] === SP || input[i] === TAB)) i++;
      if (i < end) throw new LineError('unexpected text after the timestamp');
    }
    const timestamps = batch.timestamps;
    for (let k = first; k < batch.length; k++) timestamps[k] = ts;
  }

  /** The batch id of a field's series. */
  private fieldId(
    section: SeriesSection,
    fieldNo: number,
    keyStart: number,
    keyEnd: number,
  ): number {
    const input = this.input;
    let slot = this.cache.findField(section, fieldNo, input, keyStart, keyEnd);
    if (slot < 0) {
      const field = unescapeKey(input, keyStart, keyEnd, true);
      slot = this.cache.addField(section, input, keyStart, keyEnd, field);
    }
    return this.cache.batchId(section, slot);
  }

  private text(start: number, end: number): string {
    return this.input.toString('utf8', start, Math.min(end, start + 64));
  }
}

function lineFailure(e: unknown, line: number): CountError {
  const details = { line };
  if (e instanceof LineError) {
    return new CountError(e.code, `line ${line}: ${e.message}`, { field: 'body', details });
  }
  if (isCountError(e)) {
    return new CountError(e.code, `line ${line}: ${e.message}`, {
      field: e.field ?? 'body',
      details: { ...e.details, line },
    });
  }
  throw e;
}

/** Decodes `measurement[,k=v...]` (escaped) and caches it; once per distinct series section. */
function addSection(
  cache: SeriesKeyCache,
  hash: number,
  input: Buffer,
  start: number,
  end: number,
): SeriesSection {
  let i = start;
  while (i < end && input[i] !== COMMA) i += input[i] === BSL ? 2 : 1;
  const measEnd = Math.min(i, end);
  if (measEnd === start) throw new LineError('missing measurement');
  const measurement = unescapeKey(input, start, measEnd, false);
  const tags: [string, string][] = [];
  while (i < end) {
    i++; // ','
    const keyStart = i;
    while (i < end && input[i] !== EQ && input[i] !== COMMA) i += input[i] === BSL ? 2 : 1;
    if (i >= end || input[i] !== EQ) {
      throw new LineError(
        `tag ${JSON.stringify(input.toString('utf8', keyStart, Math.min(i, end)))} has no value`,
      );
    }
    const keyEnd = i;
    i++;
    const valueStart = i;
    while (i < end && input[i] !== COMMA) i += input[i] === BSL ? 2 : 1;
    const valueEnd = Math.min(i, end);
    if (keyEnd === keyStart) throw new LineError('empty tag key');
    const key = unescapeKey(input, keyStart, keyEnd, true);
    if (valueEnd === valueStart) {
      throw new LineError(`tag ${JSON.stringify(key)} has an empty value`);
    }
    tags.push([key, unescapeKey(input, valueStart, valueEnd, true)]);
  }
  return cache.add(hash, input, start, end, measurement, tags);
}

/**
 * Removes line protocol escapes: `\,` `\ ` and `\\` everywhere, `\=` also in tag keys, tag
 * values and field keys. A backslash before any other character is kept literally.
 */
function unescapeKey(input: Buffer, start: number, end: number, equalsEscapes: boolean): string {
  const bsl = input.indexOf(BSL, start);
  if (bsl < 0 || bsl >= end) return input.toString('utf8', start, end);
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = input[i];
    if (c === BSL && i + 1 < end) {
      const next = input[i + 1];
      if (next === COMMA || next === SP || next === BSL || (equalsEscapes && next === EQ)) {
        out[o++] = next;
        i++;
        continue;
      }
    }
    out[o++] = c;
  }
  return out.toString('utf8', 0, o);
}

/** A field value: float, `i` / `u` integer, or boolean. */
function parseFieldValue(
  input: Buffer,
  start: number,
  end: number,
  keyStart: number,
  keyEnd: number,
): number {
  if (start === end) {
    throw new LineError(`field ${fieldName(input, keyStart, keyEnd)} has an empty value`);
  }
  const first = input[start];
  const last = input[end - 1];
  if ((first >= D0 && first <= D9) || first === MINUS || first === PLUS || first === DOT) {
    let v: number;
    if (last === LOWER_I) v = parseInteger(input, start, end - 1, false);
    else if (last === LOWER_U) v = parseInteger(input, start, end - 1, true);
    else v = parseFloatBytes(input, start, end);
    if (Number.isNaN(v)) {
      throw new LineError(
        `field ${fieldName(input, keyStart, keyEnd)} has an invalid number ${JSON.stringify(input.toString('utf8', start, Math.min(end, start + 64)))}`,
      );
    }
    return v;
  }
  const b = parseBoolean(input, start, end);
  if (b < 0) {
    throw new LineError(
      `field ${fieldName(input, keyStart, keyEnd)} has an invalid value ${JSON.stringify(input.toString('utf8', start, Math.min(end, start + 64)))} (numbers, i/u integers and booleans are accepted)`,
    );
  }
  return b;
}

function fieldName(input: Buffer, keyStart: number, keyEnd: number): string {
  return JSON.stringify(unescapeKey(input, keyStart, keyEnd, true));
}

/** t, T, true, True, TRUE -> 1; f, F, false, False, FALSE -> 0; anything else -> -1. */
function parseBoolean(input: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len === 1) {
    const c = input[start];
    if (c === 116 || c === 84) return 1;
    if (c === 102 || c === 70) return 0;
    return -1;
  }
  if (len !== 4 && len !== 5) return -1;
  const s = input.toString('latin1', start, end);
  if (s === 'true' || s === 'True' || s === 'TRUE') return 1;
  if (s === 'false' || s === 'False' || s === 'FALSE') return 0;
  return -1;
}

/**
 * `[-+]?digits` within int64 (or uint64 when unsigned). Values beyond 2^53 are rounded to the
 * nearest double: Count stores float64 values. Returns NaN when invalid or out of range.
 */
function parseInteger(input: Buffer, start: number, end: number, unsigned: boolean): number {
  let i = start;
  let negative = false;
  if (i < end && (input[i] === MINUS || input[i] === PLUS)) {
    if (unsigned && input[i] === MINUS) return Number.NaN;
    negative = input[i] === MINUS;
    i++;
  }
  if (i === end) return Number.NaN;
  while (i < end - 1 && input[i] === D0) i++;
  const digitsStart = i;
  let v = 0;
  for (; i < end; i++) {
    const d = input[i] - D0;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  const nd = end - digitsStart;
  if (nd >= 16) {
    const digits = input.toString('latin1', digitsStart, end);
    const limit = unsigned ? UINT64_MAX : negative ? INT64_MIN_ABS : INT64_MAX;
    if (nd > limit.length || (nd === limit.length && digits > limit)) return Number.NaN;
    v = Number(digits);
  }
  return negative ? -v : v;
}

/**
 * Decimal float from bytes. Fast path (Clinger): a mantissa of at most 15 significant digits
 * and a decimal exponent within +-22 give an exactly rounded result with one multiply or
 * divide; anything else goes through Number(). Returns NaN when the text is not a number or
 * the value is out of the float64 range.
 */
function parseFloatBytes(input: Buffer, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (input[i] === MINUS || input[i] === PLUS) {
    negative = input[i] === MINUS;
    i++;
  }
  let mantissa = 0;
  let sig = 0;
  let digits = 0;
  let exp10 = 0;
  for (; i < end; i++) {
    const d = input[i] - D0;
    if (d < 0 || d > 9) break;
    digits++;
    if (sig < 16) {
      if (mantissa !== 0 || d !== 0) sig++;
      mantissa = mantissa * 10 + d;
    } else {
      sig++;
      exp10++;
    }
  }
  if (i < end && input[i] === DOT) {
    i++;
    for (; i < end; i++) {
      const d = input[i] - D0;
      if (d < 0 || d > 9) break;
      digits++;
      if (sig < 16) {
        if (mantissa !== 0 || d !== 0) sig++;
        mantissa = mantissa * 10 + d;
        exp10--;
      } else {
        sig++;
      }
    }
  }
  if (digits === 0) return Number.NaN;
  if (i < end && (input[i] === LOWER_E || input[i] === UPPER_E)) {
    i++;
    let expNeg = false;
    if (i < end && (input[i] === MINUS || input[i] === PLUS)) {
      expNeg = input[i] === MINUS;
      i++;
    }
    const expStart = i;
    let e = 0;
    for (; i < end; i++) {
      const d = input[i] - D0;
      if (d < 0 || d > 9) break;
      if (e < 100000) e = e * 10 + d;
    }
    if (i === expStart) return Number.NaN;
    exp10 += expNeg ? -e : e;
  }
  if (i !== end) return Number.NaN;
  let v: number;
  if (sig <= 15 && exp10 >= -22 && exp10 <= 22) {
    v = exp10 < 0 ? mantissa / POW10[-exp10] : mantissa * POW10[exp10];
  } else {
    v = Number(input.toString('latin1', negative ? start + 1 : start, end));
    if (!Number.isFinite(v)) return Number.NaN;
  }
  return negative ? -v : v;
}

/**
 * Integer timestamp in the request's precision -> integer ms (floor), 0 <= t < 2^53.
 * Nanosecond timestamps exceed 2^53, so the dropped digits are cut as text, never divided.
 */
function parseTimestamp(input: Buffer, start: number, end: number, drop: number): number {
  let i = start;
  let negative = false;
  if (input[i] === MINUS) {
    negative = true;
    i++;
  }
  if (i === end) throw new LineError('invalid timestamp', 'invalid_timestamp');
  // One pass: validate every digit, accumulate only those kept at ms precision.
  const keepEnd = drop > 0 ? end - drop : end;
  let ms = 0;
  let significant = 0;
  let nonZero = false;
  for (let k = i; k < end; k++) {
    const d = input[k] - D0;
    if (d < 0 || d > 9) {
      throw new LineError(
        `invalid timestamp ${JSON.stringify(input.toString('utf8', start, Math.min(end, start + 32)))}`,
        'invalid_timestamp',
      );
    }
    if (d !== 0) nonZero = true;
    if (k < keepEnd) {
      if (ms !== 0 || d !== 0) significant++;
      ms = ms * 10 + d;
    }
  }
  if (!nonZero) return 0;
  if (negative) {
    throw new LineError('timestamps before 1970 are not supported', 'invalid_timestamp');
  }
  // Past 16 digits the value is >= 2^53 for sure (and the sum above no longer exact).
  if (significant > 16) throw outOfRange();
  if (drop < 0) ms *= 10 ** -drop;
  if (ms >= MAX_TIMESTAMP_EXCLUSIVE) throw outOfRange();
  return ms;
}

function outOfRange(): LineError {
  return new LineError('timestamp out of range (0 <= t < 2^53 ms)', 'invalid_timestamp');
}

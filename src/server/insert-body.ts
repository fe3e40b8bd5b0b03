import { PointBatch } from '../model/batch.js';
import { CountError } from '../model/errors.js';
import { validateTimestamp } from '../model/point.js';
import { canonicalSeriesKey } from '../model/series.js';
import { parseJsonValue } from './json-values.js';
import { flatString } from './series-key-cache.js';

/**
 * The JSON body of POST /insert: one point `{"series","timestamp","value"}` or many
 * `{"points":[...]}`. The whole body is validated into a PointBatch before anything is
 * written; the first bad point names its field (`points[12].timestamp`).
 */
const POINT_FIELDS = new Set(['series', 'timestamp', 'value']);

export function parseInsertBody(body: unknown): PointBatch {
  if (!isObject(body)) {
    throw new CountError(
      'invalid_body',
      'the body must be a JSON object: {"series","timestamp","value"} or {"points":[...]}',
      { field: 'body' },
    );
  }
  if ('points' in body) {
    for (const k of Object.keys(body)) {
      if (k !== 'points') throw unknownField(k, 'body');
    }
    const points = body.points;
    if (!Array.isArray(points)) {
      throw new CountError('invalid_body', 'points must be an array of points', {
        field: 'points',
      });
    }
    const batch = new PointBatch(points.length);
    const keys = new Map<string, number>();
    for (let i = 0; i < points.length; i++) addPoint(batch, keys, points[i], `points[${i}]`);
    return batch;
  }
  const batch = new PointBatch(1);
  addPoint(batch, new Map(), body, '');
  return batch;
}

function addPoint(batch: PointBatch, keys: Map<string, number>, p: unknown, prefix: string): void {
  const at = (name: string) => (prefix === '' ? name : `${prefix}.${name}`);
  if (!isObject(p)) {
    throw new CountError(
      'invalid_body',
      `${prefix} must be an object {"series","timestamp","value"}`,
      {
        field: prefix,
      },
    );
  }
  for (const k of Object.keys(p)) {
    if (!POINT_FIELDS.has(k)) throw unknownField(k, prefix === '' ? 'body' : prefix);
  }
  const series = p.series;
  if (typeof series !== 'string') {
    throw new CountError(
      'invalid_series',
      `${at('series')} must be a series key string, got ${series === undefined ? 'nothing' : series === null ? 'null' : typeof series}`,
      { field: at('series') },
    );
  }
  let id = keys.get(series);
  if (id === undefined) {
    const key = canonicalSeriesKey(series, at('series'));
    // A rewritten key is a concatenation: store a flat copy (see flatString).
    id = batch.seriesId(key === series ? key : flatString(key));
    keys.set(series, id);
  }
  const timestamp = validateTimestamp(p.timestamp, at('timestamp'));
  const value = parseJsonValue(p.value, at('value'));
  batch.addById(id, timestamp, value);
}

function unknownField(name: string, where: string): CountError {
  return new CountError(
    'invalid_body',
    `unknown field ${JSON.stringify(name.slice(0, 40))} in ${where} (expected series, timestamp, value or points)`,
    { field: where === 'body' ? name : `${where}.${name}` },
  );
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

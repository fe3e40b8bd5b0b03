import { CountError } from '../model/errors.js';
import { MAX_TIMESTAMP_EXCLUSIVE } from '../model/point.js';
import { CONSISTENCY_LEVELS, type Consistency } from './data-service.js';

/** Query-string parameters of the data routes (all strings; validated here). */
export interface QueryParams {
  start?: string;
  end?: string;
  fn?: string;
  q?: string;
  step?: string;
  consistency?: string;
  partial?: string;
  precision?: string;
  [other: string]: string | undefined;
}

export function parseConsistency(text: string | undefined): Consistency {
  if (text === undefined || text === '') return 'quorum';
  if ((CONSISTENCY_LEVELS as readonly string[]).includes(text)) return text as Consistency;
  throw new CountError(
    'invalid_parameter',
    `consistency must be one, quorum or all, got ${JSON.stringify(text.slice(0, 40))}`,
    { field: 'consistency' },
  );
}

/** `partial=allow` (default) answers with what was reachable; `deny` makes that a 503. */
export function parsePartialPolicy(text: string | undefined): 'allow' | 'deny' {
  if (text === undefined || text === '' || text === 'allow') return 'allow';
  if (text === 'deny') return 'deny';
  throw new CountError(
    'invalid_parameter',
    `partial must be allow or deny, got ${JSON.stringify(text.slice(0, 40))}`,
    { field: 'partial' },
  );
}

/**
 * The JSON routes may give `consistency` (and POST /query `partial`) in the body as well as in
 * the query string (every data call takes them); given in both places they must agree. Returns
 * the body without them (the body parsers reject unknown fields) and the values to use.
 */
export function takeBodyOptions<K extends 'consistency' | 'partial'>(
  body: unknown,
  query: QueryParams,
  names: readonly K[],
): { body: unknown; options: Record<K, string | undefined> } {
  const options = {} as Record<K, string | undefined>;
  for (const name of names) options[name] = query[name];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { body, options };
  const rest = { ...(body as Record<string, unknown>) };
  for (const name of names) {
    options[name] = mergeOption(name, rest[name], query[name]);
    delete rest[name];
  }
  return { body: rest, options };
}

function mergeOption(
  field: string,
  inBody: unknown,
  inQuery: string | undefined,
): string | undefined {
  if (inBody === undefined) return inQuery;
  if (typeof inBody !== 'string') {
    throw new CountError('invalid_parameter', `${field} in the body must be a string`, { field });
  }
  if (inQuery !== undefined && inQuery !== inBody) {
    throw new CountError(
      'invalid_parameter',
      `${field} is ${JSON.stringify(inBody.slice(0, 40))} in the body but ${JSON.stringify(inQuery.slice(0, 40))} in the query string`,
      { field },
    );
  }
  return inBody;
}

/** `start` and `end` (integer ms, required; start inclusive, end exclusive, start <= end). */
export function parseTimeRange(q: QueryParams): { start: number; end: number } {
  const start = parseTime(q.start, 'start');
  const end = parseTime(q.end, 'end');
  if (start > end) {
    throw new CountError('invalid_parameter', `start (${start}) must not be after end (${end})`, {
      field: 'start',
    });
  }
  return { start, end };
}

function parseTime(text: string | undefined, field: string): number {
  if (text === undefined || text === '') {
    throw new CountError('invalid_parameter', `${field} is required (integer milliseconds)`, {
      field,
    });
  }
  const t = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!(t <= MAX_TIMESTAMP_EXCLUSIVE)) {
    throw new CountError(
      'invalid_parameter',
      `${field} must be an integer number of milliseconds from 0 to 2^53, got ${JSON.stringify(text.slice(0, 40))}`,
      { field },
    );
  }
  return t;
}

/** A JSON request body (already size-limited and gzip-decoded). */
export function parseJsonBody(body: Buffer | undefined): unknown {
  if (body === undefined || body.length === 0) {
    throw new CountError('invalid_body', 'the request body is empty; expected JSON', {
      field: 'body',
    });
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new CountError('invalid_body', `the body is not valid JSON: ${(e as Error).message}`, {
      field: 'body',
    });
  }
}

/**
 * CountError: every error a user can see carries a stable `code` (part of the public contract),
 * a message that names the offending field, and the HTTP status the server answers with.
 */
export const ERROR_CODES = {
  // 400: bad input, nothing was changed
  invalid_series: 400,
  invalid_timestamp: 400,
  invalid_value: 400,
  invalid_body: 400,
  invalid_line_protocol: 400,
  invalid_selector: 400,
  invalid_query: 400,
  invalid_parameter: 400,
  unknown_function: 400,
  timestamp_out_of_window: 400,
  // 404
  series_not_found: 404,
  not_found: 404,
  // 409: the operation conflicts with the cluster's state
  conflict: 409,
  // 413
  body_too_large: 413,
  // 429 / 503: retry later
  memory_limit_exceeded: 503,
  overloaded: 429,
  consistency_unavailable: 503,
  partial_result: 503,
  shutting_down: 503,
  stale_epoch: 503,
  // 500
  corrupt_data: 500,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes a client may retry unchanged after a pause. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'memory_limit_exceeded',
  'overloaded',
  'consistency_unavailable',
  'shutting_down',
  'stale_epoch',
]);

export interface CountErrorOptions {
  /** The request field (or line protocol line) the error is about. */
  field?: string;
  /** Seconds a client should wait before retrying (Retry-After). */
  retryAfterSeconds?: number;
  /** Extra machine-readable detail, e.g. how many replicas answered. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class CountError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: CountErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CountError';
    this.code = code;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  toJSON(): {
    code: ErrorCode;
    message: string;
    field?: string;
    details?: Record<string, unknown>;
  } {
    return {
      code: this.code,
      message: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isCountError(e: unknown): e is CountError {
  return e instanceof CountError;
}

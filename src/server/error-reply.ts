import type { FastifyReply } from 'fastify';
import { CountError, isCountError } from '../model/errors.js';

/**
 * The one error shape of the API: `{"error":{"code","message"}}`, plus `field` and `line` when
 * known and `details` for machine-readable extras, with Retry-After on retryable errors.
 */
export function errorReply(reply: FastifyReply, e: CountError): FastifyReply {
  const body: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.field !== undefined) body.field = e.field;
  const line = e.details?.line;
  if (typeof line === 'number') body.line = line;
  if (e.details !== undefined) {
    const { line: _line, ...rest } = e.details;
    if (Object.keys(rest).length > 0) body.details = rest;
  }
  if (e.retryable || e.retryAfterSeconds !== undefined) {
    reply.header('Retry-After', String(Math.max(1, Math.ceil(e.retryAfterSeconds ?? 1))));
  }
  return reply
    .code(e.status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: body }));
}

/** Maps anything thrown while handling a request to a CountError. */
export function toCountError(error: unknown): CountError {
  if (isCountError(error)) return error;
  const e = error as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CountError('body_too_large', 'the request body is larger than the limit', {
        field: 'body',
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new CountError('invalid_body', e.message ?? 'invalid body', { field: 'body' });
  }
  const status = e.statusCode ?? 500;
  if (status === 413) return new CountError('body_too_large', e.message ?? 'body too large');
  if (status === 404) return new CountError('not_found', e.message ?? 'not found');
  if (status >= 400 && status < 500) {
    return new CountError('invalid_parameter', e.message ?? 'bad request');
  }
  return new CountError('internal', 'internal error; see the server log', { cause: error });
}

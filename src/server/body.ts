import type { IncomingHttpHeaders } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { CountError } from '../model/errors.js';

const gunzipAsync = promisify(gunzip);

/**
 * Reads a request body into one Buffer, at most `limit` bytes before and after gzip decoding
 * (Content-Encoding: gzip), so neither a large upload nor a gzip bomb can exhaust memory.
 */
export async function readRequestBody(
  headers: IncomingHttpHeaders,
  payload: NodeJS.ReadableStream,
  limit: number,
): Promise<Buffer> {
  const encoding = (headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new CountError(
      'invalid_body',
      `unsupported Content-Encoding ${JSON.stringify(encoding)} (gzip or identity)`,
      { field: 'Content-Encoding' },
    );
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of payload) {
      const b = chunk as Buffer;
      total += b.length;
      if (total > limit) throw tooLarge(limit);
      chunks.push(b);
    }
  } catch (e) {
    if (e instanceof CountError) throw e;
    // The client went away mid-body: nobody will read the answer, but say what happened.
    throw new CountError(
      'invalid_body',
      'the request body ended early (client closed the connection)',
      {
        field: 'body',
        cause: e,
      },
    );
  }
  const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  if (encoding === 'identity' || raw.length === 0) return raw;
  try {
    return await gunzipAsync(raw, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit);
    throw new CountError(
      'invalid_body',
      `the gzip body cannot be decoded: ${(e as Error).message}`,
      {
        field: 'body',
      },
    );
  }
}

function tooLarge(limit: number): CountError {
  return new CountError(
    'body_too_large',
    `the request body is larger than the limit of ${limit} bytes (--body-limit)`,
    { field: 'body' },
  );
}

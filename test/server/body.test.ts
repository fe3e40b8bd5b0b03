import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { readRequestBody } from '../../src/server/body.js';

function stream(chunks: Buffer[], failAfter?: number): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && i === failAfter) {
        this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      } else if (i < chunks.length) {
        this.push(chunks[i++]);
      } else {
        this.push(null);
      }
    },
  });
}

async function failure(p: Promise<unknown>): Promise<CountError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    return e as CountError;
  }
  throw new Error('expected a rejection');
}

describe('request body reader', () => {
  it('joins chunks and decodes gzip', async () => {
    const parts = [Buffer.from('m v=1\n'), Buffer.from('m v=2')];
    expect(String(await readRequestBody({}, stream(parts), 100))).toBe('m v=1\nm v=2');
    const gz = gzipSync('hello');
    expect(String(await readRequestBody({ 'content-encoding': 'gzip' }, stream([gz]), 100))).toBe(
      'hello',
    );
  });

  it('rejects a declared Content-Length over the limit before reading', async () => {
    let reads = 0;
    const s = new Readable({
      read() {
        reads++;
        this.push(null);
      },
    });
    const e = await failure(readRequestBody({ 'content-length': '101' }, s, 100));
    expect(e.code).toBe('body_too_large');
    expect(reads).toBe(0);
  });

  it('stops reading a chunked body at the limit', async () => {
    const e = await failure(readRequestBody({}, stream([Buffer.alloc(60), Buffer.alloc(60)]), 100));
    expect(e.code).toBe('body_too_large');
  });

  it('reports a body cut short by the client as invalid_body, not an internal error', async () => {
    const e = await failure(
      readRequestBody({}, stream([Buffer.alloc(10), Buffer.alloc(10)], 1), 100),
    );
    expect(e.code).toBe('invalid_body');
    expect(e.message).toContain('ended early');
  });
});

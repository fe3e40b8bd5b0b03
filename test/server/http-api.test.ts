import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/env/env.js';
import type { PointBatch } from '../../src/model/batch.js';
import { CountError } from '../../src/model/errors.js';
import type { Consistency, DataService, WriteOutcome } from '../../src/server/data-service.js';
import { buildHttpServer, type CountHttpServer } from '../../src/server/http-server.js';
import { LocalDataService } from '../../src/server/local-data-service.js';
import { createRootLogger, parseLogLevels } from '../../src/server/logger.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { openEngine, type StorageEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

/** In-process server over a real engine on a MemoryVfs; requests go through fastify.inject. */
interface Harness {
  server: CountHttpServer;
  engine: StorageEngine;
  service: DataService;
}

const NOW = Date.now();
const T0 = NOW - 600_000; // ten minutes ago: inside every window the engine checks
const open: Harness[] = [];

function testEnv(vfs = new MemoryVfs()): Env {
  return {
    now: () => Date.now(),
    monotonic: () => performance.now(),
    setTimer(delayMs, fn) {
      const t = setTimeout(fn, delayMs);
      return { cancel: () => clearTimeout(t) };
    },
    random: () => Math.random(),
    vfs,
  };
}

async function harness(
  options: {
    bodyLimitBytes?: number;
    maxInflightWrites?: number;
    maxInflightQueries?: number;
    maxResponsePoints?: number;
    extraRoutes?: (app: FastifyInstance) => void;
    wrap?: (s: DataService) => DataService;
  } = {},
): Promise<Harness> {
  const engine = await openEngine(testEnv());
  const local = new LocalDataService(engine);
  const service = options.wrap ? options.wrap(local) : local;
  const levels = parseLogLevels('silent');
  const server = await buildHttpServer({
    service,
    metrics: new ServerMetrics(() => engine.stats(), { nodeId: 't1' }),
    logger: createRootLogger(levels, {}),
    nodeId: 't1',
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    maxInflightWrites: options.maxInflightWrites ?? 64,
    maxInflightQueries: options.maxInflightQueries,
    now: () => NOW,
    maxResponsePoints: options.maxResponsePoints,
    extraRoutes: options.extraRoutes,
  });
  const h = { server, engine, service };
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.server.app.close();
    await h.engine.close();
  }
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked with toEqual
type Json = any;
type Reply = { status: number; json: () => Json; body: string; headers: Record<string, unknown> };

async function call(
  h: Harness,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  payload?: string | Buffer | object,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const r = await h.server.app.inject({
    method,
    url,
    headers,
    payload: payload as never,
  });
  return { status: r.statusCode, json: () => r.json(), body: r.body, headers: r.headers };
}

const enc = encodeURIComponent;

async function range(h: Harness, series: string, start = 0, end = 2 ** 53) {
  return call(h, 'GET', `/query/range/${enc(series)}?start=${start}&end=${end}`);
}

function expectError(r: Reply, status: number, code: string): Json {
  expect(r.status, r.body).toBe(status);
  const e = r.json().error;
  expect(e.code, r.body).toBe(code);
  expect(typeof e.message).toBe('string');
  return e;
}

describe('HTTP API: writes and reads', () => {
  it('POST /insert one point, then GET /query/range returns exactly the contract shape', async () => {
    const h = await harness();
    const w = await call(h, 'POST', '/insert', {
      series: 'cpu{region="eu",host="h1"}',
      timestamp: T0,
      value: 1.5,
    });
    expect(w.status).toBe(200);
    expect(w.json()).toEqual({ written: 1 });
    const r = await call(
      h,
      'GET',
      `/query/range/${enc('cpu{region="eu",host="h1"}')}?start=${T0}&end=${T0 + 1}`,
    );
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({
      series: 'cpu{host="h1",region="eu"}',
      points: [{ timestamp: T0, value: 1.5 }],
      partial: false,
    });
  });

  it('POST /insert many points with NaN and infinities, read back in the same text form', async () => {
    const h = await harness();
    const values = [1, 'NaN', '+Inf', '-Inf', -0.25];
    const points = values.map((value, i) => ({ series: 'm', timestamp: T0 + i, value }));
    const w = await call(h, 'POST', '/insert?consistency=all', { points });
    expect(w.json()).toEqual({ written: 5 });
    const r = await range(h, 'm');
    expect(r.json().points).toEqual(values.map((value, i) => ({ timestamp: T0 + i, value })));
  });

  it('POST /write (v1) and /api/v2/write (v2) take line protocol with precision', async () => {
    const h = await harness();
    const ns = `${T0}000000`;
    const v1 = await call(
      h,
      'POST',
      '/write?db=ignored&precision=ns',
      `cpu,host=h1,region=eu usage_user=1.5,usage_system=2i,up=true ${ns}\n`,
      { 'content-type': 'text/plain' },
    );
    expect(v1.status).toBe(204);
    expect(v1.body).toBe('');
    const v2 = await call(
      h,
      'POST',
      `/api/v2/write?bucket=b&org=o&precision=s`,
      `mem,host=h1 used=7u ${Math.floor(T0 / 1000)}`,
    );
    expect(v2.status).toBe(204);
    expect((await range(h, 'cpu.usage_user{host="h1",region="eu"}')).json().points).toEqual([
      { timestamp: T0, value: 1.5 },
    ]);
    expect((await range(h, 'cpu.usage_system{region="eu",host="h1"}')).json().points).toEqual([
      { timestamp: T0, value: 2 },
    ]);
    expect((await range(h, 'cpu.up{host="h1",region="eu"}')).json().points).toEqual([
      { timestamp: T0, value: 1 },
    ]);
    expect((await range(h, 'mem.used{host="h1"}')).json().points).toEqual([
      { timestamp: Math.floor(T0 / 1000) * 1000, value: 7 },
    ]);
  });

  it('uses server time for lines without a timestamp', async () => {
    const h = await harness();
    expect((await call(h, 'POST', '/write', 'm v=3')).status).toBe(204);
    expect((await range(h, 'm.v')).json().points).toEqual([{ timestamp: NOW, value: 3 }]);
  });

  it('accepts gzip bodies (Content-Encoding: gzip) on every write route', async () => {
    const h = await harness();
    const lines = Array.from({ length: 500 }, (_, i) => `g,host=h v=${i} ${T0 + i}`).join('\n');
    const r = await call(h, 'POST', '/write?precision=ms', gzipSync(lines), {
      'content-encoding': 'gzip',
    });
    expect(r.status, r.body).toBe(204);
    expect((await range(h, 'g.v{host="h"}')).json().points).toHaveLength(500);
    const j = await call(
      h,
      'POST',
      '/insert',
      gzipSync(JSON.stringify({ series: 'j', timestamp: T0, value: 1 })),
      { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    );
    expect(j.json()).toEqual({ written: 1 });
  });

  it('canonicalises URL-encoded series keys in paths, including / and spaces in label values', async () => {
    const h = await harness();
    await call(h, 'POST', '/insert', { series: 'disk{path="/var/a b"}', timestamp: T0, value: 9 });
    const r = await call(
      h,
      'GET',
      `/query/range/${enc('disk{ path = "/var/a b" }')}?start=0&end=${T0 + 1}`,
    );
    expect(r.status, r.body).toBe(200);
    expect(r.json().series).toBe('disk{path="/var/a b"}');
    expect(r.json().points).toHaveLength(1);
  });

  it('answers an existing series with no points in the range with an empty list, not 404', async () => {
    const h = await harness();
    await call(h, 'POST', '/insert', { series: 'm', timestamp: T0, value: 1 });
    const r = await range(h, 'm', 0, 10);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ series: 'm', points: [], partial: false });
  });

  it('GET /query/aggregate returns buckets with fn, step and percentile q', async () => {
    const h = await harness();
    const points = Array.from({ length: 60 }, (_, i) => ({
      series: 'a{k="v"}',
      timestamp: T0 + i * 1000,
      value: i,
    }));
    await call(h, 'POST', '/insert', { points });
    const base = `/query/aggregate/${enc('a{k="v"}')}?start=${T0}&end=${T0 + 60_000}`;
    const sum = await call(h, 'GET', `${base}&fn=sum&step=30s`);
    expect(sum.json()).toEqual({
      series: 'a{k="v"}',
      fn: 'sum',
      buckets: [
        { start: T0, value: 435 },
        { start: T0 + 30_000, value: 1335 },
      ],
      partial: false,
    });
    const max = await call(h, 'GET', `${base}&fn=max`);
    expect(max.json().buckets).toEqual([{ start: T0, value: 59 }]);
    const p = await call(h, 'GET', `${base}&fn=percentile&q=0.5`);
    expect(p.json().buckets).toEqual([{ start: T0, value: 29.5 }]);
  });

  it('POST /query selects series, aggregates and groups', async () => {
    const h = await harness();
    const points = [];
    for (const host of ['h1', 'h2']) {
      for (const region of ['eu', 'us']) {
        for (let i = 0; i < 3; i++) {
          points.push({
            series: `cpu{host="${host}",region="${region}"}`,
            timestamp: T0 + i,
            value: i,
          });
        }
      }
    }
    await call(h, 'POST', '/insert', { points });
    const raw = await call(h, 'POST', '/query', {
      select: 'cpu{region="eu"}',
      start: T0,
      end: T0 + 10,
    });
    expect(raw.status, raw.body).toBe(200);
    expect(raw.json()).toEqual({
      results: [
        {
          series: 'cpu{host="h1",region="eu"}',
          points: [0, 1, 2].map((i) => ({ timestamp: T0 + i, value: i })),
        },
        {
          series: 'cpu{host="h2",region="eu"}',
          points: [0, 1, 2].map((i) => ({ timestamp: T0 + i, value: i })),
        },
      ],
      partial: false,
    });
    const agg = await call(h, 'POST', '/query', {
      select: '{__name__="cpu",host=~"h.*"}',
      start: T0,
      end: T0 + 10,
      fn: 'sum',
      groupBy: ['region'],
    });
    expect(agg.json()).toEqual({
      results: [
        { group: { region: 'eu' }, buckets: [{ start: T0, value: 6 }] },
        { group: { region: 'us' }, buckets: [{ start: T0, value: 6 }] },
      ],
      partial: false,
    });
    const perSeries = await call(h, 'POST', '/query', {
      select: 'cpu{host="h1",region="us"}',
      start: T0,
      end: T0 + 10,
      fn: 'count',
    });
    expect(perSeries.json().results).toEqual([
      { series: 'cpu{host="h1",region="us"}', buckets: [{ start: T0, value: 3 }] },
    ]);
  });

  it('GET /health, GET /ping, GET /metrics and POST /admin/flush', async () => {
    const h = await harness();
    expect((await call(h, 'GET', '/health')).json()).toEqual({ status: 'ok', node: 't1' });
    expect((await call(h, 'GET', '/ping')).status).toBe(204);
    await call(h, 'POST', '/write?precision=ms', `m v=1 ${T0}`);
    const f = await call(h, 'POST', '/admin/flush');
    expect(f.status).toBe(200);
    expect(f.json().flushed).toBe(true);
    expect(h.engine.stats().blocks).toBeGreaterThan(0);
    expect(h.engine.stats().headPoints).toBe(0);
    expect((await range(h, 'm.v')).json().points).toEqual([{ timestamp: T0, value: 1 }]);
    const m = await call(h, 'GET', '/metrics');
    expect(m.status).toBe(200);
    expect(String(m.headers['content-type'])).toContain('text/plain');
    for (const name of [
      'count_points_ingested_total{protocol="line",node="t1"} 1',
      'count_http_requests_total{method="POST",route="/write",status="204",node="t1"} 1',
      'count_wal_fsync_duration_seconds',
      'count_head_series',
      'count_head_bytes',
      'count_blocks{node="t1"}',
      'count_compactions_total',
      'count_query_duration_seconds_bucket',
      'count_process_resident_memory_bytes',
    ]) {
      expect(m.body).toContain(name);
    }
  });
});

describe('HTTP API: bad input is rejected whole, with the right status and code', () => {
  /** Each bad request, then a check that nothing at all was written. */
  async function rejects(
    h: Harness,
    method: 'GET' | 'POST',
    url: string,
    payload: string | Buffer | object | undefined,
    status: number,
    code: string,
    headers: Record<string, string> = {},
  ) {
    const before = h.engine.stats().headPoints;
    const r = await call(h, method, url, payload, headers);
    const e = expectError(r, status, code);
    expect(h.engine.stats().headPoints).toBe(before);
    return e;
  }

  it('malformed JSON, wrong types, empty series, NaN timestamps on /insert', async () => {
    const h = await harness();
    const json = { 'content-type': 'application/json' };
    await rejects(h, 'POST', '/insert', '{"series": "m", ', 400, 'invalid_body', json);
    await rejects(h, 'POST', '/insert', '', 400, 'invalid_body', json);
    await rejects(h, 'POST', '/insert', '[1,2]', 400, 'invalid_body', json);
    await rejects(
      h,
      'POST',
      '/insert',
      { series: 5, timestamp: T0, value: 1 },
      400,
      'invalid_series',
    );
    await rejects(
      h,
      'POST',
      '/insert',
      { series: '', timestamp: T0, value: 1 },
      400,
      'invalid_series',
    );
    await rejects(
      h,
      'POST',
      '/insert',
      { series: 'm', timestamp: 'NaN', value: 1 },
      400,
      'invalid_timestamp',
    );
    await rejects(
      h,
      'POST',
      '/insert',
      { series: 'm', timestamp: T0, value: 'x' },
      400,
      'invalid_value',
    );
    const e = await rejects(
      h,
      'POST',
      '/insert',
      {
        points: [
          { series: 'ok', timestamp: T0, value: 1 },
          { series: 'ok', timestamp: -1, value: 1 },
        ],
      },
      400,
      'invalid_timestamp',
    );
    expect(e.field).toBe('points[1].timestamp');
    expectError(await range(h, 'ok'), 404, 'series_not_found');
  });

  it('a bad line rejects the whole line protocol request and names the line', async () => {
    const h = await harness();
    const body = [`good v=1 ${T0}`, `good v=2 ${T0 + 1}`, `bad v="a string" ${T0}`].join('\n');
    const e = await rejects(h, 'POST', '/write?precision=ms', body, 400, 'invalid_line_protocol');
    expect(e.line).toBe(3);
    expect(e.message).toContain('line 3');
    expect(e.message).toContain('string');
    expectError(await range(h, 'good.v'), 404, 'series_not_found');
    const e2 = await rejects(
      h,
      'POST',
      '/api/v2/write?precision=ms',
      `ok v=1 ${T0}\nx v=1 NaN`,
      400,
      'invalid_timestamp',
    );
    expect(e2.line).toBe(2);
    await rejects(h, 'POST', '/write?precision=h', `m v=1 ${T0}`, 400, 'invalid_parameter');
  });

  it('413 for a body over the limit, before and after gzip decoding', async () => {
    const h = await harness({ bodyLimitBytes: 64 * 1024 });
    const big = `m v=1 ${T0}\n`.repeat(10_000);
    const e = await rejects(h, 'POST', '/write?precision=ms', big, 413, 'body_too_large');
    expect(e.message).toContain('limit');
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 32));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await rejects(h, 'POST', '/write', bomb, 413, 'body_too_large', { 'content-encoding': 'gzip' });
    await rejects(
      h,
      'POST',
      '/insert',
      JSON.stringify({ points: new Array(40_000).fill(0) }),
      413,
      'body_too_large',
    );
    const bigQuery = JSON.stringify({
      select: 'm',
      start: 0,
      end: 5,
      groupBy: new Array(40_000).fill('a'),
    });
    await rejects(h, 'POST', '/query', bigQuery, 413, 'body_too_large');
    await rejects(h, 'POST', '/write', Buffer.from('not gzip'), 400, 'invalid_body', {
      'content-encoding': 'gzip',
    });
    await rejects(h, 'POST', '/write', 'm v=1', 400, 'invalid_body', { 'content-encoding': 'br' });
  });

  it('range and aggregate parameters: NaN, missing, start > end, unknown fn, bad q, bad step', async () => {
    const h = await harness();
    await call(h, 'POST', '/insert', { series: 'm', timestamp: T0, value: 1 });
    const cases: [string, string, string][] = [
      ['/query/range/m?start=NaN&end=5', 'invalid_parameter', 'start'],
      ['/query/range/m?start=0', 'invalid_parameter', 'end'],
      ['/query/range/m?start=1.5&end=5', 'invalid_parameter', 'start'],
      ['/query/range/m?start=10&end=5', 'invalid_parameter', 'start'],
      ['/query/range/m?start=0&end=5&consistency=most', 'invalid_parameter', 'consistency'],
      ['/query/range/m?start=0&end=5&partial=maybe', 'invalid_parameter', 'partial'],
      ['/query/range/bad%20name?start=0&end=5', 'invalid_series', 'series'],
      ['/query/aggregate/m?start=0&end=5&fn=avg', 'unknown_function', 'fn'],
      ['/query/aggregate/m?start=0&end=5', 'invalid_parameter', 'fn'],
      ['/query/aggregate/m?start=0&end=5&fn=percentile', 'invalid_parameter', 'q'],
      ['/query/aggregate/m?start=0&end=5&fn=percentile&q=2', 'invalid_parameter', 'q'],
      ['/query/aggregate/m?start=0&end=5&fn=sum&step=soon', 'invalid_parameter', 'step'],
      ['/query/aggregate/m?start=9&end=5&fn=sum', 'invalid_parameter', 'start'],
    ];
    for (const [url, code, field] of cases) {
      const r = await call(h, 'GET', url);
      const e = expectError(r, 400, code);
      expect(e.field, url).toBe(field);
    }
  });

  it('404 series_not_found for unknown series, 404 not_found for unknown routes, 400 for bad paths', async () => {
    const h = await harness();
    expectError(await range(h, 'nothing{here="x"}'), 404, 'series_not_found');
    expectError(
      await call(h, 'GET', '/query/aggregate/nothing?start=0&end=5&fn=sum'),
      404,
      'series_not_found',
    );
    expectError(await call(h, 'GET', '/no/such/route'), 404, 'not_found');
    const bad = expectError(
      await call(h, 'GET', '/query/range/%E0%A4%A?start=0&end=1'),
      400,
      'invalid_parameter',
    );
    expect(bad.field).toBe('url');
    const long = expectError(
      await call(h, 'GET', `/query/range/${'a'.repeat(5000)}?start=0&end=1`),
      400,
      'invalid_series',
    );
    expect(long.field).toBe('series');
    expectError(await call(h, 'DELETE', '/insert'), 404, 'not_found');
  });

  it('refuses raw answers over the response point limit, but not aggregates of them', async () => {
    const h = await harness({ maxResponsePoints: 10 });
    const points = Array.from({ length: 11 }, (_, i) => ({
      series: 'big',
      timestamp: T0 + i,
      value: i,
    }));
    await call(h, 'POST', '/insert', { points });
    const e = expectError(await range(h, 'big'), 400, 'invalid_query');
    expect(e.details).toEqual({ points: 11, limit: 10 });
    expectError(
      await call(h, 'POST', '/query', { select: 'big', start: 0, end: T0 + 99 }),
      400,
      'invalid_query',
    );
    expect((await range(h, 'big', T0, T0 + 10)).json().points).toHaveLength(10);
    const agg = await call(h, 'GET', `/query/aggregate/big?start=0&end=${T0 + 99}&fn=count`);
    expect(agg.json().buckets).toEqual([{ start: 0, value: 11 }]);
  });

  it('POST /query: malformed JSON, unknown fields, bad selector, start > end', async () => {
    const h = await harness();
    const json = { 'content-type': 'application/json' };
    expectError(await call(h, 'POST', '/query', '{', json), 400, 'invalid_body');
    expectError(
      await call(h, 'POST', '/query', { select: 'm', start: 0, end: 5, bogus: 1 }),
      400,
      'invalid_query',
    );
    expectError(
      await call(h, 'POST', '/query', { select: '{a=~"("}', start: 0, end: 5 }),
      400,
      'invalid_selector',
    );
    expectError(
      await call(h, 'POST', '/query', { select: 'm', start: 9, end: 5 }),
      400,
      'invalid_parameter',
    );
    expectError(
      await call(h, 'POST', '/query', { select: 'm', start: 0, end: 5, fn: 'avg' }),
      400,
      'unknown_function',
    );
  });
});

describe('HTTP API: back-pressure and shutdown', () => {
  it('answers 503 memory_limit_exceeded with Retry-After under memory pressure', async () => {
    const h = await harness({
      wrap: (s) => ({
        ...delegate(s),
        write: async () => {
          throw new CountError('memory_limit_exceeded', 'head memory limit reached', {
            retryAfterSeconds: 3,
          });
        },
      }),
    });
    const r = await call(h, 'POST', '/write', 'm v=1');
    expectError(r, 503, 'memory_limit_exceeded');
    expect(r.headers['retry-after']).toBe('3');
  });

  it('answers 429 overloaded with Retry-After past the in-flight write bound', async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    let entered!: () => void;
    const firstInside = new Promise<void>((res) => {
      entered = res;
    });
    const h = await harness({
      maxInflightWrites: 1,
      wrap: (s) => ({
        ...delegate(s),
        write: async (batch: PointBatch, c: Consistency): Promise<WriteOutcome> => {
          entered();
          await gate;
          return s.write(batch, c);
        },
      }),
    });
    const first = call(h, 'POST', '/write?precision=ms', `m v=1 ${T0}`);
    await firstInside;
    const second = await call(h, 'POST', '/write?precision=ms', `m v=2 ${T0 + 1}`);
    expectError(second, 429, 'overloaded');
    expect(second.headers['retry-after']).toBe('1');
    release();
    expect((await first).status).toBe(204);
  });

  it('answers 429 overloaded past the in-flight query bound', async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    let entered!: () => void;
    const firstInside = new Promise<void>((res) => {
      entered = res;
    });
    const h = await harness({
      maxInflightQueries: 1,
      wrap: (s) => ({
        ...delegate(s),
        readRange: async (series, start, end, c) => {
          entered();
          await gate;
          return s.readRange(series, start, end, c);
        },
      }),
    });
    await call(h, 'POST', '/insert', { series: 'm', timestamp: T0, value: 1 });
    const first = range(h, 'm');
    await firstInside;
    const second = await call(h, 'POST', '/query', { select: 'm', start: 0, end: T0 + 1 });
    expectError(second, 429, 'overloaded');
    expect(second.headers['retry-after']).toBe('1');
    release();
    expect((await first).json().points).toEqual([{ timestamp: T0, value: 1 }]);
    const m = await call(h, 'GET', '/metrics');
    expect(m.body).toContain('count_inflight_requests{kind="query",node="t1"} 0');
  });

  it('serves extra routes (the cluster admin API) with the same error shape and metrics', async () => {
    const h = await harness({
      extraRoutes: (app) => {
        app.get('/admin/cluster/ping', async () => ({ pong: true }));
        app.get('/admin/cluster/fail', async () => {
          throw new CountError('conflict', 'an operation is already running');
        });
      },
    });
    expect((await call(h, 'GET', '/admin/cluster/ping')).json()).toEqual({ pong: true });
    expectError(await call(h, 'GET', '/admin/cluster/fail'), 409, 'conflict');
    const m = await call(h, 'GET', '/metrics');
    expect(m.body).toContain('route="/admin/cluster/ping",status="200"');
  });

  it('answers 503 shutting_down once shutdown began', async () => {
    const h = await harness();
    h.server.beginShutdown();
    const r = await call(h, 'GET', '/health');
    expectError(r, 503, 'shutting_down');
    expect(r.headers['retry-after']).toBe('1');
  });
});

function delegate(s: DataService): DataService {
  return {
    write: (b, c) => s.write(b, c),
    readRange: (series, start, end, c) => s.readRange(series, start, end, c),
    query: (r, c) => s.query(r, c),
    flush: () => s.flush(),
    stats: () => s.stats(),
    close: () => s.close(),
  };
}

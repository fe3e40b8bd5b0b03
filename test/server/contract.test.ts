import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  type ServerProcess,
  startServer,
  stopAllServers,
} from '../helpers/server-process.js';

/**
 * The public HTTP contract of DESIGN.md, checked as an outside client sees it: one real
 * count-server process (the built dist), plain fetch, exact JSON shapes and status codes.
 * Tests outside the code rely on these shapes, so each assertion is toEqual on the whole body.
 */

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked with toEqual
type Json = any;
interface Reply {
  status: number;
  body: string;
  headers: Headers;
  json: () => Json;
}

let server: ServerProcess;
// Inside the out-of-order window of a fresh head: ten minutes ago, on a whole hour for steps.
const T0 = Math.floor((Date.now() - 600_000) / 3_600_000) * 3_600_000 + 1_000_000;
const enc = encodeURIComponent;

beforeAll(async () => {
  server = await startServer({ args: ['--body-limit', '64KiB'] });
}, 30_000);

afterAll(async () => {
  await stopAllServers();
});

async function call(
  method: 'GET' | 'POST',
  path: string,
  body?: string | Buffer | object,
  headers: Record<string, string> = {},
): Promise<Reply> {
  let payload: string | Buffer | undefined;
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) payload = body;
  else {
    payload = JSON.stringify(body);
    headers = { 'content-type': 'application/json', ...headers };
  }
  const r = await fetch(`${server.url}${path}`, { method, body: payload, headers });
  const text = await r.text();
  return { status: r.status, body: text, headers: r.headers, json: () => JSON.parse(text) };
}

/** An error answer: exactly the status, `{"error":{"code","message",...}}`, message a string. */
function expectError(r: Reply, status: number, code: string): Json {
  expect(r.status, r.body).toBe(status);
  const e = r.json().error;
  expect(e.code, r.body).toBe(code);
  expect(typeof e.message, r.body).toBe('string');
  return e;
}

describe('public HTTP contract (one real count-server process)', () => {
  it('POST /insert answers {"written": N}; GET /query/range: start inclusive, end exclusive', async () => {
    const one = await call('POST', '/insert', {
      series: 'ct.range{host="h1"}',
      timestamp: T0,
      value: 1.5,
    });
    expect(one.status).toBe(200);
    expect(one.json()).toEqual({ written: 1 });
    const many = await call('POST', '/insert', {
      points: [
        { series: 'ct.range{host="h1"}', timestamp: T0 + 1000, value: 2 },
        { series: 'ct.range{host="h1"}', timestamp: T0 + 2000, value: 3 },
      ],
    });
    expect(many.json()).toEqual({ written: 2 });
    const r = await call(
      'GET',
      `/query/range/${enc('ct.range{host="h1"}')}?start=${T0}&end=${T0 + 2000}`,
    );
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({
      series: 'ct.range{host="h1"}',
      points: [
        { timestamp: T0, value: 1.5 },
        { timestamp: T0 + 1000, value: 2 },
      ],
      partial: false,
    });
  });

  it('every data call takes consistency=one|quorum|all and rejects any other level with 400', async () => {
    const s = enc('ct.range{host="h1"}');
    const routes: Array<[method: 'GET' | 'POST', path: string, body?: string | object]> = [
      ['POST', '/insert', { series: 'ct.level', timestamp: T0, value: 1 }],
      ['POST', '/write', `ct.level v=1 ${T0}000000`],
      ['POST', '/api/v2/write', `ct.level v=1 ${T0}000000`],
      ['GET', `/query/range/${s}?start=${T0}&end=${T0 + 1}`],
      ['GET', `/query/aggregate/${s}?start=${T0}&end=${T0 + 1}&fn=sum`],
      ['POST', '/query', { select: 'ct.range', start: T0, end: T0 + 1 }],
    ];
    for (const [method, path, body] of routes) {
      const sep = path.includes('?') ? '&' : '?';
      for (const level of ['one', 'quorum', 'all']) {
        const r = await call(method, `${path}${sep}consistency=${level}`, body);
        expect(r.status, `${method} ${path} ${level}: ${r.body}`).toBeLessThan(300);
      }
      const bad = await call(method, `${path}${sep}consistency=two`, body);
      expectError(bad, 400, 'invalid_parameter');
    }
  });

  it('POST /query also takes consistency (and partial) in its JSON body', async () => {
    const q = { select: 'ct.range', start: T0, end: T0 + 1 };
    for (const level of ['one', 'quorum', 'all']) {
      const r = await call('POST', '/query', { ...q, consistency: level });
      expect(r.status, r.body).toBe(200);
      expect(r.json()).toEqual({
        results: [{ series: 'ct.range{host="h1"}', points: [{ timestamp: T0, value: 1.5 }] }],
        partial: false,
      });
    }
    expect((await call('POST', '/query', { ...q, partial: 'deny' })).status).toBe(200);
    expectError(
      await call('POST', '/query', { ...q, consistency: 'two' }),
      400,
      'invalid_parameter',
    );
    expectError(await call('POST', '/query', { ...q, consistency: 1 }), 400, 'invalid_parameter');
    // The same option twice with different values is ambiguous.
    const both = await call('POST', '/query?consistency=one', { ...q, consistency: 'all' });
    expectError(both, 400, 'invalid_parameter');
  });

  it('POST /insert also takes consistency in its JSON body (not partial: writes are never partial)', async () => {
    const one = { series: 'ct.body', timestamp: T0, value: 1 };
    for (const level of ['one', 'quorum', 'all']) {
      expect((await call('POST', '/insert', { ...one, consistency: level })).json()).toEqual({
        written: 1,
      });
      const batch = { points: [one], consistency: level };
      expect((await call('POST', '/insert', batch)).json()).toEqual({ written: 1 });
    }
    expectError(
      await call('POST', '/insert', { ...one, consistency: 'two' }),
      400,
      'invalid_parameter',
    );
    expectError(
      await call('POST', '/insert?consistency=one', { ...one, consistency: 'all' }),
      400,
      'invalid_parameter',
    );
    expectError(await call('POST', '/insert', { ...one, partial: 'deny' }), 400, 'invalid_body');
  });

  it('line protocol: precision ns (default), us, u, ms, s on /write and /api/v2/write, gzip bodies', async () => {
    const ms = T0 + 123;
    const bodies: Array<[path: string, ts: string]> = [
      ['/write', `${ms}000000`],
      ['/write?precision=ns', `${ms}000000`],
      ['/write?precision=us', `${ms}000`],
      ['/write?precision=u', `${ms}000`],
      ['/write?precision=ms', `${ms}`],
      ['/api/v2/write?org=o&bucket=b', `${ms}000000`],
      ['/api/v2/write?org=o&bucket=b&precision=ms', `${ms}`],
    ];
    for (const [i, [path, ts]] of bodies.entries()) {
      const r = await call('POST', path, `ct_lp,k=p${i} v=1 ${ts}`);
      expect(r.status, `${path}: ${r.body}`).toBe(204);
      expect(r.body).toBe('');
    }
    expect(
      (await call('POST', '/write?precision=s', `ct_lp,k=s v=1 ${Math.floor(ms / 1000)}`)).status,
    ).toBe(204);
    const gz = gzipSync(`ct_lp,k=gz v=2i ${ms}000000\n`);
    expect((await call('POST', '/write', gz, { 'content-encoding': 'gzip' })).status).toBe(204);
    expectError(await call('POST', '/write?precision=h', `ct_lp v=1 1`), 400, 'invalid_parameter');
    const r = await call('POST', '/query', { select: 'ct_lp.v', start: 0, end: ms + 1 });
    const got = Object.fromEntries(r.json().results.map((x: Json) => [x.series, x.points]));
    expect(got).toEqual({
      ...Object.fromEntries(
        bodies.map((_, i) => [`ct_lp.v{k="p${i}"}`, [{ timestamp: ms, value: 1 }]]),
      ),
      'ct_lp.v{k="s"}': [{ timestamp: Math.floor(ms / 1000) * 1000, value: 1 }],
      'ct_lp.v{k="gz"}': [{ timestamp: ms, value: 2 }],
    });
    const gzr = await call('GET', `/query/range/${enc('ct_lp.v{k="gz"}')}?start=0&end=${ms + 1}`);
    expect(gzr.json().points).toEqual([{ timestamp: ms, value: 2 }]);
  });

  it('GET /query/aggregate: all eight fns, q, steps 10s 5m 1h and ms, buckets from start', async () => {
    const points = [1, 2, 3, 4].map((v, i) => ({
      series: 'ct.agg',
      timestamp: T0 + i * 5000,
      value: v,
    }));
    expect((await call('POST', '/insert', { points })).json()).toEqual({ written: 4 });
    const base = `/query/aggregate/ct.agg?start=${T0}&end=${T0 + 20_000}`;
    const expected: Record<string, number> = {
      sum: 10,
      mean: 2.5,
      min: 1,
      max: 4,
      count: 4,
      median: 2.5,
      stddev: Math.sqrt(1.25),
      percentile: 4,
    };
    for (const [fn, value] of Object.entries(expected)) {
      const r = await call('GET', `${base}&fn=${fn}${fn === 'percentile' ? '&q=1' : ''}`);
      expect(r.status, r.body).toBe(200);
      const body = r.json();
      expect(body).toEqual({
        series: 'ct.agg',
        fn,
        buckets: [{ start: T0, value: expect.any(Number) }],
        partial: false,
      });
      expect(body.buckets[0].value).toBeCloseTo(value, 9);
    }
    const tenS = await call('GET', `${base}&fn=sum&step=10s`);
    expect(tenS.json().buckets).toEqual([
      { start: T0, value: 3 },
      { start: T0 + 10_000, value: 7 },
    ]);
    expect((await call('GET', `${base}&fn=count&step=10000`)).json().buckets).toEqual(
      tenS.json().buckets.map((b: Json) => ({ ...b, value: 2 })),
    );
    for (const step of ['5m', '1h']) {
      const r = await call('GET', `${base}&fn=count&step=${step}`);
      expect(r.json().buckets, step).toEqual([{ start: T0, value: 4 }]);
    }
    expectError(await call('GET', `${base}&fn=bogus`), 400, 'unknown_function');
    expectError(await call('GET', `${base}&fn=percentile`), 400, 'invalid_parameter');
    expectError(await call('GET', `${base}&fn=sum&step=0`), 400, 'invalid_parameter');
    expectError(
      await call('GET', `/query/aggregate/ct.none?start=0&end=1&fn=sum`),
      404,
      'series_not_found',
    );
  });

  it('POST /query: results of the three shapes (points, buckets, groups)', async () => {
    const points = ['h1', 'h2'].flatMap((host, i) => [
      { series: `ct.q{host="${host}",dc="x"}`, timestamp: T0, value: i + 1 },
      { series: `ct.q{host="${host}",dc="x"}`, timestamp: T0 + 60_000, value: 10 },
    ]);
    expect((await call('POST', '/insert', { points })).json()).toEqual({ written: 4 });
    const sel = { select: 'ct.q{host=~"h.*"}', start: T0, end: T0 + 120_000 };
    expect((await call('POST', '/query', sel)).json()).toEqual({
      results: [
        {
          series: 'ct.q{dc="x",host="h1"}',
          points: [
            { timestamp: T0, value: 1 },
            { timestamp: T0 + 60_000, value: 10 },
          ],
        },
        {
          series: 'ct.q{dc="x",host="h2"}',
          points: [
            { timestamp: T0, value: 2 },
            { timestamp: T0 + 60_000, value: 10 },
          ],
        },
      ],
      partial: false,
    });
    expect((await call('POST', '/query', { ...sel, fn: 'max', step: '1m' })).json()).toEqual({
      results: [
        {
          series: 'ct.q{dc="x",host="h1"}',
          buckets: [
            { start: T0, value: 1 },
            { start: T0 + 60_000, value: 10 },
          ],
        },
        {
          series: 'ct.q{dc="x",host="h2"}',
          buckets: [
            { start: T0, value: 2 },
            { start: T0 + 60_000, value: 10 },
          ],
        },
      ],
      partial: false,
    });
    expect((await call('POST', '/query', { ...sel, fn: 'sum', groupBy: ['dc'] })).json()).toEqual({
      results: [{ group: { dc: 'x' }, buckets: [{ start: T0, value: 23 }] }],
      partial: false,
    });
    expectError(await call('POST', '/query', { ...sel, select: 'ct.q{' }), 400, 'invalid_selector');
    expectError(
      await call('POST', '/query', '{not json', { 'content-type': 'application/json' }),
      400,
      'invalid_body',
    );
  });

  it('a batch with one bad point writes nothing (JSON and line protocol); errors name field and line', async () => {
    const bad = await call('POST', '/insert', {
      points: [
        { series: 'ct.atomic', timestamp: T0, value: 1 },
        { series: 'ct.atomic', timestamp: -1, value: 2 },
      ],
    });
    expect(expectError(bad, 400, 'invalid_timestamp').message).toContain('points[1].timestamp');
    const lp = await call(
      'POST',
      '/write?precision=ms',
      `ct.atomic2 v=1 ${T0}\nct.atomic2 v="s" ${T0}\n`,
    );
    expect(expectError(lp, 400, 'invalid_line_protocol').message).toContain('line 2');
    for (const s of ['ct.atomic', 'ct.atomic2.v']) {
      expectError(
        await call('GET', `/query/range/${s}?start=0&end=${T0 + 1}`),
        404,
        'series_not_found',
      );
    }
    expectError(
      await call('POST', '/insert', { series: 'bad name', timestamp: T0, value: 1 }),
      400,
      'invalid_series',
    );
    expectError(await call('GET', `/query/range/ct.range?start=5&end=4`), 400, 'invalid_parameter');
    expectError(await call('GET', '/no/such/route'), 404, 'not_found');
    expectError(await call('POST', '/write', 'x'.repeat(70_000)), 413, 'body_too_large');
  });

  it('/health, /metrics (Prometheus text), POST /admin/flush keeps every point readable', async () => {
    expect((await call('GET', '/health')).status).toBe(200);
    const m = await call('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(m.body).toMatch(/^# HELP count_/m);
    expect(m.body).toMatch(/^# TYPE count_http_requests_total counter$/m);
    const f = await call('POST', '/admin/flush');
    expect(f.status, f.body).toBe(200);
    const r = await call(
      'GET',
      `/query/range/${enc('ct.range{host="h1"}')}?start=${T0}&end=${T0 + 3000}`,
    );
    expect(r.json().points).toHaveLength(3);
  });

  it('countctl against a single (non-cluster) node says so, and exits 1', () => {
    const ctl = join(REPO_ROOT, 'dist/src/cli/countctl.js');
    for (const cmd of [['status'], ['ring'], ['decommission', 'n3']]) {
      const r = spawnSync(process.execPath, [ctl, '--server', server.url, ...cmd], {
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain('is not a cluster node');
    }
  });
});

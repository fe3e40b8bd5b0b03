import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import type { Samples } from '../../src/model/point.js';
import type { Selector } from '../../src/model/selector.js';
import { aggregate } from '../../src/query/aggregate.js';
import {
  executeQuery,
  parseQueryRequest,
  type QueryRequest,
  type SeriesSource,
} from '../../src/query/execute.js';
import { parseSelector } from '../../src/query/selectors.js';
import { SeriesIndex } from '../../src/storage/series-index.js';

const samples = (pts: [number, number][]): Samples => ({
  timestamps: Float64Array.from(pts.map((p) => p[0])),
  values: Float64Array.from(pts.map((p) => p[1])),
});

/** An in-memory source: SeriesIndex for select, a map for reads; counts reads in flight. */
class MemorySource implements SeriesSource {
  readonly index = new SeriesIndex();
  readonly data = new Map<string, Samples>();
  inFlight = 0;
  maxInFlight = 0;
  vanished = new Set<string>();

  put(key: string, pts: [number, number][]): void {
    this.index.add(key);
    this.data.set(key, samples(pts));
  }
  async select(selector: Selector): Promise<string[]> {
    // Deliberately unsorted: executeQuery must sort.
    return this.index.select(selector).reverse();
  }
  async readRange(series: string, start: number, end: number): Promise<Samples> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    if (this.vanished.has(series)) {
      throw new CountError('series_not_found', `no series ${series}`);
    }
    const s = this.data.get(series)!;
    const keep = Array.from(s.timestamps.keys()).filter(
      (i) => s.timestamps[i] >= start && s.timestamps[i] < end,
    );
    return samples(keep.map((i) => [s.timestamps[i], s.values[i]]));
  }
}

function source(): MemorySource {
  const src = new MemorySource();
  src.put('cpu{host="h2",region="us"}', [
    [0, 1],
    [10, 2],
    [20, 3],
  ]);
  src.put('cpu{host="h1",region="eu"}', [
    [0, 10],
    [15, 20],
    [99, 30],
  ]);
  src.put('cpu{host="h3"}', [[5, 100]]);
  src.put('cpu{host="h4",region="eu"}', [[500, 1]]); // outside the range below
  src.put('mem{host="h1"}', [[0, 7]]);
  return src;
}

const req = (text: string, extra: Partial<QueryRequest> = {}): QueryRequest => ({
  selector: parseSelector(text),
  start: 0,
  end: 100,
  ...extra,
});

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, field?: string) {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    expect((e as CountError).code).toBe(code);
    if (field !== undefined) expect((e as CountError).field).toBe(field);
    return (e as CountError).message;
  }
  throw new Error(`expected ${code}`);
}

describe('executeQuery', () => {
  it('returns raw points per series, sorted by key, leaving out series without points', async () => {
    const out = await executeQuery(source(), req('cpu'));
    expect(out.map((r) => ('series' in r ? r.series : ''))).toEqual([
      'cpu{host="h1",region="eu"}',
      'cpu{host="h2",region="us"}',
      'cpu{host="h3"}',
    ]);
    const first = out[0] as { points: Samples };
    expect(Array.from(first.points.timestamps)).toEqual([0, 15, 99]);
  });

  it('aggregates per series with a step', async () => {
    const out = await executeQuery(source(), req('cpu{region="eu"}', { fn: 'sum', step: 50 }));
    expect(out).toEqual([
      {
        series: 'cpu{host="h1",region="eu"}',
        buckets: [
          { start: 0, value: 30 },
          { start: 50, value: 30 },
        ],
      },
    ]);
  });

  it('groups by labels, a missing label grouping under ""', async () => {
    const out = await executeQuery(source(), req('cpu', { fn: 'max', groupBy: ['region'] }));
    expect(out).toEqual([
      { group: { region: '' }, buckets: [{ start: 0, value: 100 }] },
      { group: { region: 'eu' }, buckets: [{ start: 0, value: 30 }] },
      { group: { region: 'us' }, buckets: [{ start: 0, value: 3 }] },
    ]);
    const all = await executeQuery(source(), req('{host=~"h.*"}', { fn: 'count', groupBy: [] }));
    expect(all).toEqual([{ group: {}, buckets: [{ start: 0, value: 8 }] }]);
    const byName = await executeQuery(
      source(),
      req('{host="h1"}', { fn: 'count', groupBy: ['__name__', 'host'] }),
    );
    expect(byName.map((r) => ('group' in r ? r.group : null))).toEqual([
      { __name__: 'cpu', host: 'h1' },
      { __name__: 'mem', host: 'h1' },
    ]);
  });

  it('pools grouped series exactly like aggregate over them', async () => {
    const src = source();
    const out = await executeQuery(
      src,
      req('cpu', { fn: 'percentile', q: 0.9, step: 10, groupBy: [] }),
    );
    const parts = [
      'cpu{host="h1",region="eu"}',
      'cpu{host="h2",region="us"}',
      'cpu{host="h3"}',
    ].map((k) => src.data.get(k)!);
    expect(out).toEqual([
      {
        group: {},
        buckets: aggregate(parts, { fn: 'percentile', q: 0.9, start: 0, end: 100, step: 10 }),
      },
    ]);
  });

  it('enforces the series and points limits', async () => {
    const msg = await expectCode(
      executeQuery(source(), req('cpu'), { maxSeries: 3 }),
      'invalid_query',
      'select',
    );
    expect(msg).toMatch(/matches 4 series; a query may read at most 3/);
    await executeQuery(source(), req('cpu'), { maxPoints: 7 });
    await expectCode(executeQuery(source(), req('cpu'), { maxPoints: 6 }), 'invalid_query');
  });

  it('bounds reads in flight and skips series deleted meanwhile', async () => {
    const src = new MemorySource();
    for (let i = 0; i < 100; i++) src.put(`s{i="${i}"}`, [[1, i]]);
    src.vanished.add('s{i="7"}');
    const out = await executeQuery(src, req('s', { fn: 'count', groupBy: [] }));
    expect(out).toEqual([{ group: {}, buckets: [{ start: 0, value: 99 }] }]);
    expect(src.maxInFlight).toBeLessThanOrEqual(16);
    expect(src.maxInFlight).toBeGreaterThan(1);
  });

  it('validates requests built in code', async () => {
    await expectCode(
      executeQuery(source(), req('cpu', { start: 5, end: 1 })),
      'invalid_parameter',
      'start',
    );
    await expectCode(executeQuery(source(), req('cpu', { step: 10 })), 'invalid_query', 'step');
    await expectCode(
      executeQuery(source(), req('cpu', { groupBy: ['a'] })),
      'invalid_query',
      'groupBy',
    );
    await expectCode(
      executeQuery(source(), req('cpu', { fn: 'percentile' })),
      'invalid_parameter',
      'q',
    );
    await expectCode(
      executeQuery(source(), { ...req('cpu'), selector: [{ name: 'a', op: '!=', value: 'b' }] }),
      'invalid_selector',
      'select',
    );
  });
});

describe('parseQueryRequest', () => {
  it('parses a full body', () => {
    expect(
      parseQueryRequest({
        select: 'cpu{host=~"h.*"}',
        start: 0,
        end: 3_600_000,
        fn: 'percentile',
        q: 0.99,
        step: '5m',
        groupBy: ['region'],
      }),
    ).toEqual({
      selector: [
        { name: '__name__', op: '=', value: 'cpu' },
        { name: 'host', op: '=~', value: 'h.*' },
      ],
      start: 0,
      end: 3_600_000,
      fn: 'percentile',
      q: 0.99,
      step: 300_000,
      groupBy: ['region'],
    });
    expect(parseQueryRequest({ select: 'cpu', start: 1, end: 1, step: 1000, fn: 'sum' }).step).toBe(
      1000,
    );
  });

  it.each([
    [null, 'invalid_body', undefined],
    [[], 'invalid_body', undefined],
    [{ start: 0, end: 1 }, 'invalid_selector', 'select'],
    [{ select: 'cpu', start: 0, end: 1, limit: 5 }, 'invalid_query', 'limit'],
    [{ select: '{a=""}', start: 0, end: 1 }, 'invalid_selector', 'select'],
    [{ select: 5, start: 0, end: 1 }, 'invalid_selector', 'select'],
    [{ select: 'cpu', end: 1 }, 'invalid_parameter', 'start'],
    [{ select: 'cpu', start: 0 }, 'invalid_parameter', 'end'],
    [{ select: 'cpu', start: 2, end: 1 }, 'invalid_parameter', 'start'],
    [{ select: 'cpu', start: '0', end: 1 }, 'invalid_parameter', 'start'],
    [{ select: 'cpu', start: 0, end: 1.5 }, 'invalid_parameter', 'end'],
    [{ select: 'cpu', start: 0, end: 1, fn: 'avg' }, 'unknown_function', 'fn'],
    [{ select: 'cpu', start: 0, end: 1, fn: 'percentile' }, 'invalid_parameter', 'q'],
    [{ select: 'cpu', start: 0, end: 1, fn: 'percentile', q: 99 }, 'invalid_parameter', 'q'],
    [{ select: 'cpu', start: 0, end: 1, fn: 'sum', q: 0.5 }, 'invalid_query', 'q'],
    [{ select: 'cpu', start: 0, end: 1, step: '1m' }, 'invalid_query', 'step'],
    [{ select: 'cpu', start: 0, end: 1, fn: 'sum', step: 'soon' }, 'invalid_parameter', 'step'],
    [{ select: 'cpu', start: 0, end: 1, fn: 'sum', step: [] }, 'invalid_parameter', 'step'],
    [
      { select: 'cpu', start: 0, end: 86_400_000, fn: 'sum', step: '1s' },
      'invalid_parameter',
      'step',
    ],
    [{ select: 'cpu', start: 0, end: 1, groupBy: ['host'] }, 'invalid_query', 'groupBy'],
    [
      { select: 'cpu', start: 0, end: 1, fn: 'sum', groupBy: 'host' },
      'invalid_parameter',
      'groupBy',
    ],
    [
      { select: 'cpu', start: 0, end: 1, fn: 'sum', groupBy: ['a', 'a'] },
      'invalid_parameter',
      'groupBy',
    ],
    [
      { select: 'cpu', start: 0, end: 1, fn: 'sum', groupBy: ['__proto__'] },
      'invalid_parameter',
      'groupBy',
    ],
    [
      { select: 'cpu', start: 0, end: 1, fn: 'sum', groupBy: ['a-b'] },
      'invalid_parameter',
      'groupBy',
    ],
  ])('rejects %j with %s naming %s', async (body, code, field) => {
    await expectCode(() => parseQueryRequest(body), code, field);
  });
});

/**
 * Query-path micro-benchmarks: series key canonicalisation (the write path calls it per point),
 * selector matching through the series index, k-way merging and aggregation. Prints a table;
 * each row is the median of several timed rounds after a warm-up.
 *
 *   node dist/bench/query.js [--rounds N]
 */
import { fileURLToPath } from 'node:url';
import { canonicalSeriesKey } from '../src/model/series.js';
import { aggregate } from '../src/query/aggregate.js';
import { mergeSamples } from '../src/query/merge.js';
import { parseSelector } from '../src/query/selectors.js';
import { SeriesIndex } from '../src/storage/series-index.js';
import { numberArg } from './args.js';
import { generateDevopsData } from './devops-data.js';
import { median } from './median.js';
import { printTable } from './table.js';

interface Row {
  name: string;
  unit: string;
  /** Work items per round (points, keys, selects). */
  items: number;
  run: () => void;
}

export function runQueryBench(rounds = 7): string[][] {
  const day = generateDevopsData({ seed: 1, series: 100, points: 8640 });
  const series = day.keys.map((_, i) => ({
    timestamps: day.timestamps[i],
    values: day.values[i],
  }));
  for (const s of series) {
    // devops data jitters timestamps by a few ms; keep them strictly increasing
    for (let k = 1; k < s.timestamps.length; k++) {
      if (s.timestamps[k] <= s.timestamps[k - 1]) s.timestamps[k] = s.timestamps[k - 1] + 1;
    }
  }
  const start = series[0].timestamps[0];
  const end = start + 86_400_000;
  const points = series.reduce((n, s) => n + s.timestamps.length, 0);

  const canonical = Array.from(
    { length: 10_000 },
    (_, i) => `cpu.usage_user{dc="dc${i % 3}",host="host-${i % 1000}",region="eu-${i % 7}"}`,
  );
  const unsorted = canonical.map((k) =>
    k.replace(/\{(.*)\}/, (_, b: string) => `{${b.split(',').reverse().join(',')}}`),
  );

  const index = new SeriesIndex();
  for (let m = 0; m < 20; m++) {
    for (let h = 0; h < 1000; h++) {
      index.add(`metric${m}{dc="dc${h % 3}",host="host-${h}",region="r${h % 7}"}`);
    }
  }
  const selEq = parseSelector('metric7{host="host-42"}');
  const selRe = parseSelector('metric7{host=~"host-4.*",region!="r1"}');

  // 8 overlapping parts of one series (e.g. replicas or chunks), 8,640 points each.
  const parts = Array.from({ length: 8 }, (_, p) => ({
    timestamps: series[p].timestamps.map((t) => t - (t % 10_000) + p * 1000),
    values: series[p].values,
  }));
  const mergedPoints = parts.reduce((n, s) => n + s.timestamps.length, 0);

  const rows: Row[] = [
    {
      name: 'canonicalSeriesKey, canonical input',
      unit: 'keys',
      items: canonical.length,
      run: () => {
        for (const k of canonical) canonicalSeriesKey(k);
      },
    },
    {
      name: 'canonicalSeriesKey, labels reversed',
      unit: 'keys',
      items: unsorted.length,
      run: () => {
        for (const k of unsorted) canonicalSeriesKey(k);
      },
    },
    {
      name: 'SeriesIndex.select eq (20k series)',
      unit: 'selects',
      items: 1000,
      run: () => {
        for (let i = 0; i < 1000; i++) index.select(selEq);
      },
    },
    {
      name: 'SeriesIndex.select regex+neq (20k series)',
      unit: 'selects',
      items: 100,
      run: () => {
        for (let i = 0; i < 100; i++) index.select(selRe);
      },
    },
    {
      name: 'mergeSamples 2 overlapping parts',
      unit: 'points',
      items: parts[0].timestamps.length * 2,
      run: () => {
        mergeSamples(parts.slice(0, 2));
      },
    },
    {
      name: 'mergeSamples 8 overlapping parts',
      unit: 'points',
      items: mergedPoints,
      run: () => {
        mergeSamples(parts);
      },
    },
    ...(['max', 'sum', 'stddev', 'percentile'] as const).map((fn) => ({
      name: `aggregate ${fn}, 100 series x 1 day, step 1h`,
      unit: 'points',
      items: points,
      run: () => {
        aggregate(series, { fn, start, end, step: 3_600_000, q: 0.99 });
      },
    })),
  ];

  const table = [['benchmark', 'median ms/round', 'throughput']];
  for (const row of rows) {
    row.run(); // warm-up
    row.run();
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      row.run();
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    const rate = (row.items / ms) * 1000;
    const shown = rate >= 1e6 ? `${(rate / 1e6).toFixed(1)} M` : `${(rate / 1e3).toFixed(1)} k`;
    table.push([row.name, ms.toFixed(2), `${shown} ${row.unit}/s`]);
  }
  return table;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTable(runQueryBench(numberArg('--rounds') ?? 7));
}

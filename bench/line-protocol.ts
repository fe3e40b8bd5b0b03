import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { influxSeriesKey, parseLineProtocol, SeriesKeyCache } from '../src/server/line-protocol.js';
import { telegrafCpuBodies } from './line-protocol-bodies.js';

/**
 * The line protocol parser alone, in process (no HTTP, no storage): points/s parsed into
 * PointBatches from the same bodies the HTTP benchmark posts, with the server's shared key
 * cache warm (steady state) and cold (every series new). Medians of 5 runs.
 */
export async function runLineProtocolBench(): Promise<void> {
  const rows: string[][] = [];
  for (const fields of [10, 1]) {
    const linesPerRequest = Math.ceil(10_000 / fields);
    const body = telegrafCpuBodies({ hosts: 1000, fields, linesPerRequest, startTs: 1.7e12 });
    const bodies = Array.from({ length: 50 }, (_, r) => Buffer.from(body(r)));
    for (const warm of [true, false]) {
      const rates: number[] = [];
      for (let run = 0; run < 5; run++) {
        let cache = new SeriesKeyCache(influxSeriesKey);
        if (warm)
          for (const b of bodies) parseLineProtocol(b, { precision: 'ms', nowMs: 0, cache });
        let points = 0;
        const t0 = performance.now();
        for (const b of bodies) {
          if (!warm) cache = new SeriesKeyCache(influxSeriesKey);
          points += parseLineProtocol(b, { precision: 'ms', nowMs: 0, cache }).length;
        }
        rates.push(points / ((performance.now() - t0) / 1000));
      }
      rates.sort((a, b) => a - b);
      rows.push([
        `${fields} field${fields > 1 ? 's' : ''}/line`,
        warm ? 'warm' : 'cold',
        Math.round(rates[2]).toLocaleString('en-US'),
      ]);
    }
  }
  console.log('\nLine protocol parser (10,000 points a body, 1,000 hosts), median of 5');
  console.log(['shape', 'key cache', 'points/s'].join('\t'));
  for (const r of rows) console.log(r.join('\t'));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runLineProtocolBench().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}

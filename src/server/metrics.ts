import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineStats } from '../storage/engine.js';

/**
 * Prometheus metrics of one server instance (its own registry, so several servers in one
 * process, as in tests, do not collide). Storage figures are read from the engine when
 * scraped; request figures are counted as requests complete.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly pointsIngested: Counter<'protocol'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'route'>;
  readonly queryDuration: Histogram<'kind'>;
  readonly walFsyncDuration: Histogram;
  readonly inflight: Gauge<'kind'>;

  constructor(stats: () => EngineStats | undefined, labels: { nodeId: string }) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: labels.nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'count_' });
    this.pointsIngested = new Counter({
      name: 'count_points_ingested_total',
      help: 'Points accepted by write requests (JSON insert and line protocol).',
      labelNames: ['protocol'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'count_http_requests_total',
      help: 'HTTP requests answered, by route and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'count_http_request_duration_seconds',
      help: 'HTTP request latency, by route.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.queryDuration = new Histogram({
      name: 'count_query_duration_seconds',
      help: 'Latency of range reads, aggregates and selector queries.',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.walFsyncDuration = new Histogram({
      name: 'count_wal_fsync_duration_seconds',
      help: 'Latency of WAL fsyncs.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.inflight = new Gauge({
      name: 'count_inflight_requests',
      help: 'Write and query requests being processed now, by kind.',
      labelNames: ['kind'],
      registers,
    });
    const gauge = (name: string, help: string, pick: (s: EngineStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = stats();
          if (s !== undefined) this.set(pick(s));
        },
      });
    gauge('count_head_series', 'Series with points in the memory head.', (s) => s.headSeries);
    gauge('count_head_points', 'Points in the memory head.', (s) => s.headPoints);
    gauge('count_head_bytes', 'Estimated memory of the head.', (s) => s.headBytes);
    gauge('count_blocks', 'Blocks on disk.', (s) => s.blocks);
    gauge('count_block_bytes', 'Bytes of blocks on disk.', (s) => s.blockBytes);
    gauge('count_wal_segments', 'WAL segment files.', (s) => s.walSegments);
    gauge('count_wal_bytes', 'Bytes of WAL on disk.', (s) => s.walBytes);
    gauge('count_series', 'Series known to this node (head and blocks).', (s) => s.series);
    new Counter({
      name: 'count_compactions_total',
      help: 'Block compactions since the engine opened.',
      registers,
      collect() {
        const s = stats();
        if (s === undefined) return;
        this.reset();
        this.inc(s.compactions);
      },
    });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

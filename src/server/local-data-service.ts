import type { PointBatch } from '../model/batch.js';
import { NAME_LABEL, type Selector } from '../model/selector.js';
import { parseSeriesKey } from '../model/series.js';
import { executeQuery, type QueryRequest } from '../query/execute.js';
import type { EngineStats, StorageEngine } from '../storage/engine.js';
import type {
  Consistency,
  DataService,
  QueryOutcome,
  RangeRead,
  WriteOutcome,
} from './data-service.js';

/**
 * DataService over the one storage engine of a single node. Every consistency level is met by
 * the one replica, and no answer is ever partial.
 */
export class LocalDataService implements DataService {
  constructor(
    private readonly engine: StorageEngine,
    private readonly limits: { maxSeries?: number; maxPoints?: number } = {},
  ) {}

  async write(batch: PointBatch, _consistency: Consistency): Promise<WriteOutcome> {
    if (batch.length > 0) await this.engine.write(batch);
    return { written: batch.length, acknowledged: 1, required: 1 };
  }

  async readRange(
    series: string,
    start: number,
    end: number,
    _consistency: Consistency,
  ): Promise<RangeRead> {
    const points = await this.engine.readRange(series, start, end);
    // Points prove the series exists; otherwise ask the index (a series may have no points in
    // the range and still exist).
    const found = points.timestamps.length > 0 || (await this.exists(series));
    return { found, points, partial: false };
  }

  async query(request: QueryRequest, _consistency: Consistency): Promise<QueryOutcome> {
    const results = await executeQuery(this.engine, request, this.limits);
    return { results, partial: false };
  }

  flush(): Promise<void> {
    return this.engine.flush();
  }

  stats(): EngineStats {
    return this.engine.stats();
  }

  close(): Promise<void> {
    return this.engine.close();
  }

  private async exists(series: string): Promise<boolean> {
    const key = parseSeriesKey(series);
    const selector: Selector = [
      { name: NAME_LABEL, op: '=', value: key.name },
      ...key.labels.map(([name, value]) => ({ name, op: '=' as const, value })),
    ];
    const keys = await this.engine.select(selector);
    return keys.includes(series);
  }
}

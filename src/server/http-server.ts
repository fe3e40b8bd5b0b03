import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { PointBatch } from '../model/batch.js';
import { CountError } from '../model/errors.js';
import { canonicalSeriesKey } from '../model/series.js';
import { aggregate, parseAggregateFn, parseQuantile, parseStep } from '../query/aggregate.js';
import { parseQueryRequest, type QueryResult } from '../query/execute.js';
import { Admission } from './admission.js';
import { readRequestBody } from './body.js';
import type { DataService, PartialInfo } from './data-service.js';
import { errorReply, toCountError } from './error-reply.js';
import { parseInsertBody } from './insert-body.js';
import { formatBucketsJson, formatPointsJson } from './json-values.js';
import {
  influxSeriesKey,
  parseLineProtocol,
  parsePrecision,
  SeriesKeyCache,
} from './line-protocol.js';
import type { ServerMetrics } from './metrics.js';
import {
  parseConsistency,
  parseJsonBody,
  parsePartialPolicy,
  parseTimeRange,
  type QueryParams,
  takeBodyOptions,
} from './request-params.js';

/**
 * The public HTTP API (DESIGN.md, "Public HTTP contract") on fastify. Routes translate HTTP to
 * DataService calls and back; all validation of a write happens before the DataService sees
 * it, so a bad request writes nothing.
 */
export interface HttpServerOptions {
  service: DataService;
  metrics: ServerMetrics;
  logger: Logger;
  nodeId: string;
  bodyLimitBytes: number;
  /** Concurrent write requests admitted; more get 429 overloaded. */
  maxInflightWrites: number;
  /** Concurrent reads and queries admitted (default 32); more get 429 overloaded. */
  maxInflightQueries?: number;
  /** Server clock (ms) for line protocol points without a timestamp. */
  now?: () => number;
  /** Canonical keys the line protocol key cache holds before it starts over (default 250,000). */
  seriesKeyCacheKeys?: number;
  /** Raw points one response may carry (default MAX_RESPONSE_POINTS). */
  maxResponsePoints?: number;
  /**
   * More routes (e.g. the cluster's registerAdminRoutes), added before the server is ready so
   * they share the error shape, metrics, body handling and shutdown behaviour.
   */
  extraRoutes?: (app: FastifyInstance) => Promise<void> | void;
}

export interface CountHttpServer {
  readonly app: FastifyInstance;
  /** Stops admitting requests (503 shutting_down); in-flight requests still finish. */
  beginShutdown(): void;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Most raw points one response carries: ~40 bytes of JSON each keeps a response well under
 * V8's string limit and the server's memory. Aggregates are not limited by this.
 */
export const MAX_RESPONSE_POINTS = 5_000_000;

export async function buildHttpServer(options: HttpServerOptions): Promise<CountHttpServer> {
  const { service, metrics, logger } = options;
  const now = options.now ?? Date.now;
  const maxResponsePoints = options.maxResponsePoints ?? MAX_RESPONSE_POINTS;
  let closing = false;
  const writes = new Admission('writes', options.maxInflightWrites, (n) =>
    metrics.inflight.set({ kind: 'write' }, n),
  );
  const queries = new Admission('queries', options.maxInflightQueries ?? 32, (n) =>
    metrics.inflight.set({ kind: 'query' }, n),
  );
  const keyCache = new SeriesKeyCache(influxSeriesKey, options.seriesKeyCacheKeys);

  const app = Fastify({
    logger: false,
    // Our own onRequest hook answers 503 shutting_down in the JSON error shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Series keys in paths are up to 256 bytes, URL-encoded up to three times that.
    routerOptions: { maxParamLength: 4096 },
    bodyLimit: options.bodyLimitBytes,
    // Errors fastify raises before routing (bad percent-encoding, overlong path parameter).
    frameworkErrors: (error, _request, reply) => {
      const e =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new CountError('invalid_series', 'the series key in the path is too long', {
              field: 'series',
            })
          : error.code === 'FST_ERR_BAD_URL'
            ? new CountError('invalid_parameter', 'the URL is not validly percent-encoded', {
                field: 'url',
              })
            : toCountError(error);
      void errorReply(reply, e);
    },
  });

  // Every body arrives as a Buffer (gzip decoded, size-limited); routes parse JSON or line
  // protocol themselves, whatever the Content-Type says (curl -d sends a form type).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage) =>
    readRequestBody(request.headers, payload, options.bodyLimitBytes),
  );

  app.addHook('onRequest', async (_request, reply) => {
    if (closing) {
      reply.header('Connection', 'close');
      throw new CountError('shutting_down', 'the server is shutting down; retry on another node', {
        retryAfterSeconds: 1,
      });
    }
  });

  // During shutdown every response closes its connection, so keep-alive sockets of requests
  // that were in flight do not hold the server open until their idle timeout.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('Connection', 'close');
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.httpRequests.inc({ method: request.method, route, status });
    metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
    if (status >= 500) {
      logger.warn({ method: request.method, url: request.url, status }, 'request failed');
    } else if (logger.isLevelEnabled('debug')) {
      logger.debug(
        { method: request.method, url: request.url, status, ms: reply.elapsedTime },
        'request',
      );
    }
  });

  app.setErrorHandler(async (error, request, reply) => {
    const e = toCountError(error);
    if (e.status >= 500 && e.code === 'internal') {
      logger.error({ err: error, method: request.method, url: request.url }, 'internal error');
    }
    if (e.code === 'body_too_large') reply.header('Connection', 'close');
    return errorReply(reply, e);
  });

  app.setNotFoundHandler(async (request, reply) =>
    errorReply(
      reply,
      new CountError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );

  /** Admission and accounting shared by both write routes. */
  async function write(batch: PointBatch, query: QueryParams, protocol: string): Promise<number> {
    const consistency = parseConsistency(query.consistency);
    const outcome = await writes.run(() => service.write(batch, consistency));
    metrics.pointsIngested.inc({ protocol }, outcome.written);
    return outcome.written;
  }

  app.post('/insert', async (request: FastifyRequest<{ Querystring: QueryParams }>, reply) => {
    const { body, options } = takeBodyOptions(
      parseJsonBody(request.body as Buffer | undefined),
      request.query,
      ['consistency'],
    );
    const batch = parseInsertBody(body);
    const written = await write(batch, { consistency: options.consistency }, 'json');
    return sendJson(reply, `{"written":${written}}`);
  });

  const lineProtocolWrite = async (
    request: FastifyRequest<{ Querystring: QueryParams }>,
    reply: FastifyReply,
  ) => {
    const precision = parsePrecision(request.query.precision);
    const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
    const batch = parseLineProtocol(body, { precision, nowMs: now(), cache: keyCache });
    await write(batch, request.query, 'line');
    return reply.code(204).send();
  };
  app.post('/write', lineProtocolWrite);
  app.post('/api/v2/write', lineProtocolWrite);

  app.get(
    '/query/range/:series',
    async (
      request: FastifyRequest<{ Params: { series: string }; Querystring: QueryParams }>,
      reply,
    ) => {
      const t0 = performance.now();
      const series = canonicalSeriesKey(request.params.series, 'series');
      const { start, end } = parseTimeRange(request.query);
      const consistency = parseConsistency(request.query.consistency);
      const policy = parsePartialPolicy(request.query.partial);
      const read = await queries.run(() => service.readRange(series, start, end, consistency));
      if (!read.found) throw seriesNotFound(series);
      checkPartial(read, policy);
      checkResponsePoints(read.points.timestamps.length, maxResponsePoints);
      const body = `{"series":${JSON.stringify(series)},"points":${formatPointsJson(read.points)},${partialJson(read)}}`;
      metrics.queryDuration.observe({ kind: 'range' }, (performance.now() - t0) / 1000);
      return sendJson(reply, body);
    },
  );

  app.get(
    '/query/aggregate/:series',
    async (
      request: FastifyRequest<{ Params: { series: string }; Querystring: QueryParams }>,
      reply,
    ) => {
      const t0 = performance.now();
      const q = request.query;
      const series = canonicalSeriesKey(request.params.series, 'series');
      const { start, end } = parseTimeRange(q);
      const fn = parseAggregateFn(required(q.fn, 'fn'), 'fn');
      const quantile = q.q === undefined || q.q === '' ? undefined : parseQuantile(q.q, 'q');
      const step = q.step === undefined || q.step === '' ? undefined : parseStep(q.step, 'step');
      const consistency = parseConsistency(q.consistency);
      const policy = parsePartialPolicy(q.partial);
      const read = await queries.run(() => service.readRange(series, start, end, consistency));
      if (!read.found) throw seriesNotFound(series);
      checkPartial(read, policy);
      const buckets = aggregate([read.points], { fn, start, end, step, q: quantile });
      const body = `{"series":${JSON.stringify(series)},"fn":${JSON.stringify(fn)},"buckets":${formatBucketsJson(buckets)},${partialJson(read)}}`;
      metrics.queryDuration.observe({ kind: 'aggregate' }, (performance.now() - t0) / 1000);
      return sendJson(reply, body);
    },
  );

  app.post('/query', async (request: FastifyRequest<{ Querystring: QueryParams }>, reply) => {
    const t0 = performance.now();
    const { body, options } = takeBodyOptions(
      parseJsonBody(request.body as Buffer | undefined),
      request.query,
      ['consistency', 'partial'],
    );
    const req = parseQueryRequest(body);
    const consistency = parseConsistency(options.consistency);
    const policy = parsePartialPolicy(options.partial);
    const outcome = await queries.run(() => service.query(req, consistency));
    checkPartial(outcome, policy);
    let points = 0;
    for (const r of outcome.results) if ('points' in r) points += r.points.timestamps.length;
    checkResponsePoints(points, maxResponsePoints);
    const results = outcome.results.map(formatQueryResult).join(',');
    metrics.queryDuration.observe({ kind: 'query' }, (performance.now() - t0) / 1000);
    return sendJson(reply, `{"results":[${results}],${partialJson(outcome)}}`);
  });

  app.get('/health', async (_request, reply) =>
    sendJson(reply, JSON.stringify({ status: 'ok', node: options.nodeId })),
  );

  // InfluxDB clients probe /ping before writing; answer as InfluxDB does (204, no body).
  app.get('/ping', async (_request, reply) => reply.code(204).send());

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.text();
    return reply.type(metrics.contentType()).send(text);
  });

  app.post('/admin/flush', async (_request, reply) => {
    const t0 = performance.now();
    await service.flush();
    const ms = Math.round(performance.now() - t0);
    logger.info({ ms }, 'flushed the head to blocks');
    return sendJson(reply, JSON.stringify({ flushed: true, ms }));
  });

  app.get('/admin/status', async (_request, reply) =>
    sendJson(
      reply,
      JSON.stringify({
        node: options.nodeId,
        mode: 'single-node',
        clustering: false,
        storage: service.stats(),
      }),
    ),
  );

  if (options.extraRoutes !== undefined) await options.extraRoutes(app);
  await app.ready();
  return {
    app,
    beginShutdown() {
      closing = true;
    },
  };
}

function sendJson(reply: FastifyReply, body: string): FastifyReply {
  return reply.type(JSON_TYPE).send(body);
}

function required(value: string | undefined, field: string): string {
  if (value === undefined || value === '') {
    throw new CountError('invalid_parameter', `${field} is required`, { field });
  }
  return value;
}

function seriesNotFound(series: string): CountError {
  return new CountError('series_not_found', `series ${series} does not exist`, {
    field: 'series',
  });
}

function checkPartial(info: PartialInfo, policy: 'allow' | 'deny'): void {
  if (info.partial && policy === 'deny') {
    throw new CountError(
      'partial_result',
      'some token ranges had no reachable replica and partial=deny was given',
      { retryAfterSeconds: 1, details: { missing: info.missing ?? [] } },
    );
  }
}

function checkResponsePoints(n: number, limit: number): void {
  if (n > limit) {
    throw new CountError(
      'invalid_query',
      `the answer has ${n} points; one response carries at most ${limit}: narrow the time range or aggregate with fn and step`,
      { details: { points: n, limit } },
    );
  }
}

function partialJson(info: PartialInfo): string {
  let out = `"partial":${info.partial}`;
  if (info.missing !== undefined) out += `,"missing":${JSON.stringify(info.missing)}`;
  if (info.warnings !== undefined) out += `,"warnings":${JSON.stringify(info.warnings)}`;
  return out;
}

function formatQueryResult(r: QueryResult): string {
  if ('points' in r) {
    return `{"series":${JSON.stringify(r.series)},"points":${formatPointsJson(r.points)}}`;
  }
  if ('group' in r) {
    return `{"group":${JSON.stringify(r.group)},"buckets":${formatBucketsJson(r.buckets)}}`;
  }
  return `{"series":${JSON.stringify(r.series)},"buckets":${formatBucketsJson(r.buckets)}}`;
}

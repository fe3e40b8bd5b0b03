#!/usr/bin/env node
import { mkdirSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { resolve } from 'node:path';
import { CommanderError } from 'commander';
import type { Logger } from 'pino';
import type { Env } from '../env/env.js';
import { createRealEnv } from '../env/real-env.js';
import type { DataService } from '../server/data-service.js';
import { buildHttpServer, type CountHttpServer } from '../server/http-server.js';
import { LocalDataService } from '../server/local-data-service.js';
import { createRootLogger, moduleLogger } from '../server/logger.js';
import { measureSyncs } from '../server/measured-vfs.js';
import { ServerMetrics } from '../server/metrics.js';
import { openEngine, type StorageEngine, WAL_DIR } from '../storage/engine.js';
import { type ClusterNode, startClusterNode } from './cluster-node.js';
import { type DataDirLock, lockDataDir } from './data-dir-lock.js';
import {
  formatHostPort,
  isHelpExit,
  parseServerConfig,
  type ServerConfig,
} from './server-config.js';

/**
 * count-server: one Count node. Parses the configuration (failing fast on bad flags), opens
 * the storage engine in the data directory, serves the HTTP API and shuts down cleanly on
 * SIGTERM/SIGINT: stop accepting, finish in-flight requests, sync the WAL, exit 0.
 */
async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = parseServerConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(isHelpExit(e) ? 0 : e.exitCode || 1);
    throw e;
  }

  const root = createRootLogger(config.logLevels, { node: config.nodeId });
  const log = moduleLogger(root, config.logLevels, 'server');
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const lock = lockDataDir(dataDir);

  let engine: StorageEngine | undefined;
  const metrics = new ServerMetrics(() => engine?.stats(), { nodeId: config.nodeId });
  const realEnv = createRealEnv(dataDir);
  const env: Env = {
    now: () => realEnv.now(),
    monotonic: () => realEnv.monotonic(),
    setTimer: (delayMs, fn) => realEnv.setTimer(delayMs, fn),
    random: () => realEnv.random(),
    vfs: measureSyncs(realEnv.vfs, `${WAL_DIR}/`, (s) => metrics.walFsyncDuration.observe(s)),
  };
  const t0 = performance.now();
  const opened = await openEngine(env, {
    fsync: config.fsync,
    fsyncIntervalMs: config.fsyncIntervalMs,
    retentionMs: config.retentionMs,
    outOfOrderWindowMs: config.outOfOrderWindowMs,
    headMemoryLimitBytes: config.headMemoryLimitBytes,
  });
  engine = opened;
  const stats = opened.stats();
  log.info(
    {
      dataDir,
      ms: Math.round(performance.now() - t0),
      series: stats.series,
      headPoints: stats.headPoints,
      blocks: stats.blocks,
      fsync: config.fsync,
    },
    'storage opened',
  );

  // Cluster mode with --bootstrap or --seeds; otherwise a single node exactly as before.
  const clustered = config.bootstrap || config.seeds.length > 0;
  let cluster: ClusterNode | null = null;
  let service: DataService;
  let bind = config.bind;
  if (clustered) {
    if (config.peerBind === undefined) {
      throw new Error('cluster mode (--bootstrap or --seeds) needs --peer-bind host:port');
    }
    // The HTTP address is advertised in the cluster state, so its port must be known first.
    if (bind.port === 0) bind = { ...bind, port: await freePort(bind.host) };
    cluster = await startClusterNode({
      nodeId: config.nodeId,
      dataDir,
      env,
      engine: opened,
      http: bind,
      peerBind: config.peerBind,
      bootstrap: config.bootstrap,
      seeds: config.seeds.map(formatHostPort),
      rf: config.rf,
      log: moduleLogger(root, config.logLevels, 'cluster'),
      onFatal: (e) => {
        log.fatal({ err: e }, 'the metadata Raft replica stopped; exiting');
        root.flush();
        process.exit(1);
      },
    });
    service = cluster.coordinator;
    cluster.registerMetrics(metrics.registry);
  } else {
    service = new LocalDataService(opened);
  }
  const server = await buildHttpServer({
    service,
    metrics,
    logger: moduleLogger(root, config.logLevels, 'http'),
    nodeId: config.nodeId,
    bodyLimitBytes: config.bodyLimitBytes,
    maxInflightWrites: config.maxInflightWrites,
    maxInflightQueries: config.maxInflightQueries,
    seriesKeyCacheKeys: config.seriesKeyCacheKeys,
    ...(cluster === null ? {} : { extraRoutes: (cluster as ClusterNode).registerRoutes }),
  });
  // Before listening, so that 'listening' means the join is staged.
  if (cluster !== null) await cluster.join();

  const address = await server.app.listen({ host: bind.host, port: bind.port });
  const port = (server.app.server.address() as { port: number }).port;
  log.info(
    {
      address,
      host: bind.host,
      port,
      bind: formatHostPort({ ...bind, port }),
      peerAddress: cluster?.peerAddress,
      bodyLimitBytes: config.bodyLimitBytes,
      headMemoryLimitBytes: config.headMemoryLimitBytes,
      retentionMs: config.retentionMs,
      maxInflightWrites: config.maxInflightWrites,
      maxInflightQueries: config.maxInflightQueries,
    },
    'listening',
  );

  const closeAll = cluster === null ? () => service.close() : (cluster as ClusterNode).close;
  installShutdown(server, closeAll, lock, config, log, root);
}

/** A free TCP port on `host` (the kernel's pick; released at once for the server to take). */
function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => res(port));
    });
  });
}

function installShutdown(
  server: CountHttpServer,
  closeService: () => Promise<void>,
  lock: DataDirLock,
  config: ServerConfig,
  log: Logger,
  root: Logger,
): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // Nothing acknowledged is lost: acknowledged writes are already in the fsynced WAL
      // (fsync always/batch), so a second signal may exit at once.
      log.warn({ signal }, 'second signal: exiting now');
      root.flush();
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    server.beginShutdown();
    const deadline = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      root.flush();
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    server.app
      .close()
      .then(() => closeService())
      .then(() => {
        lock.release();
        log.info('stopped: WAL synced, storage closed');
        root.flush();
        process.exit(0);
      })
      .catch((e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        root.flush();
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`count-server: failed to start: ${message}\n`);
  process.exit(1);
});

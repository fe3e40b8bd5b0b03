import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type ClusterState, decodeClusterState } from '../cluster/cluster-state.js';
import { Gossip } from '../cluster/gossip.js';
import { seedPeerId } from '../cluster/join-client.js';
import { DEFAULT_METADATA_OPTIONS, META_STATE } from '../cluster/metadata.js';
import { linkMetadataToGossip } from '../cluster/metadata-gossip.js';
import { type MetadataNode, startMetadataNode } from '../cluster/metadata-node.js';
import { RangeCleanup } from '../cluster/range-cleanup.js';
import { Coordinator } from '../distributed/coordinator.js';
import { type ClusterEnv, clusterEnvOf } from '../env/cluster-env.js';
import type { Env } from '../env/env.js';
import { CountError } from '../model/errors.js';
import { PeerTransport } from '../net/peer-transport.js';
import { registerAdminRoutes } from '../server/admin-routes.js';
import { registerClusterMetrics } from '../server/cluster-metrics.js';
import type { StorageEngine } from '../storage/engine.js';
import { checkNodeIdentity, recordNodeIdentity } from './node-identity.js';
import { formatHostPort, type HostPort } from './server-config.js';

/**
 * A count-server in cluster mode, assembled: the peer transport (--peer-bind) under a
 * ClusterEnv, the metadata Raft group with its log under <data-dir>/meta, gossip linked to the
 * metadata, the Coordinator (the HTTP API's DataService), range cleanup after ownership
 * changes, the admin routes countctl uses and the cluster figures for /metrics.
 *
 *   const node = await startClusterNode({ ... });      // Raft, gossip, data plane running
 *   buildHttpServer({ service: node.coordinator, ... }); await node.registerRoutes(app);
 *   await node.join();                                 // --seeds on a new disk: staged join
 *   ... await node.close();                            // leaves gossip, stops Raft, closes storage
 */
export interface ClusterNodeOptions {
  readonly nodeId: string;
  readonly dataDir: string;
  /** The node's Env (clock, timers, random, vfs rooted at the data dir). */
  readonly env: Env;
  readonly engine: StorageEngine;
  /** HTTP address other nodes and countctl reach this node at (port already known). */
  readonly http: HostPort;
  readonly peerBind: HostPort;
  readonly bootstrap: boolean;
  /** Peer addresses (host:port) of existing members. */
  readonly seeds: readonly string[];
  readonly rf: number;
  readonly log: Logger;
  /** How long to keep asking the seeds (identity check and join). */
  readonly joinDeadlineMs?: number;
  /**
   * Called once if the metadata Raft replica stops on its own (a disk error, a broken
   * invariant). count-server exits: a member that cannot persist its Raft state must not go on
   * serving as if it were one.
   */
  readonly onFatal: (error: unknown) => void;
}

export interface ClusterNode {
  readonly env: ClusterEnv;
  readonly coordinator: Coordinator;
  readonly meta: MetadataNode;
  readonly gossip: Gossip;
  readonly transport: PeerTransport;
  readonly peerAddress: string;
  readonly httpAddress: string;
  registerRoutes(app: FastifyInstance): Promise<void>;
  registerMetrics(registry: Registry): void;
  /** Joins through the seeds when the disk held no cluster; a no-op otherwise. */
  join(): Promise<void>;
  /** Leaves gossip, stops Raft and the data plane, closes storage and the transport. */
  close(): Promise<void>;
}

const DEFAULT_JOIN_DEADLINE_MS = 60_000;
const SEED_REQUEST_TIMEOUT_MS = 3000;
const FATAL_CHECK_MS = 1000;

export async function startClusterNode(opts: ClusterNodeOptions): Promise<ClusterNode> {
  const { nodeId, log } = opts;
  for (const [flag, a] of [
    ['--bind', opts.http],
    ['--peer-bind', opts.peerBind],
  ] as const) {
    // The bind address is also the address advertised to the other nodes.
    if (a.host === '0.0.0.0' || a.host === '::' || a.host === '[::]') {
      throw new Error(
        `${flag} ${formatHostPort(a)}: in cluster mode the address is advertised to the other nodes, so bind a reachable host (an IP or a hostname such as the container name), not a wildcard`,
      );
    }
  }
  if (!opts.bootstrap && opts.seeds.length === 0) {
    throw new Error('cluster mode needs --bootstrap (form a new cluster) or --seeds (join one)');
  }
  const identity = checkNodeIdentity(opts.dataDir, nodeId, DEFAULT_METADATA_OPTIONS.dir);
  const transport = await PeerTransport.listen({
    nodeId,
    host: opts.peerBind.host,
    port: opts.peerBind.port,
  });
  let started = false;
  try {
    const peerAddress = formatHostPort({ host: opts.peerBind.host, port: transport.port });
    const httpAddress = formatHostPort(opts.http);
    const env = clusterEnvOf(opts.env, nodeId, transport);
    const deadlineMs = opts.joinDeadlineMs ?? DEFAULT_JOIN_DEADLINE_MS;
    if (identity.kind === 'new' && !opts.bootstrap) {
      await refuseLostMember(env, opts.seeds, opts.dataDir, deadlineMs, log);
    }

    let coordinator: Coordinator | null = null;
    const meta = await startMetadataNode(env, {
      self: { id: nodeId, httpAddress, peerAddress },
      bootstrap: opts.bootstrap,
      seeds: opts.seeds,
      rf: opts.rf,
      joinDeadlineMs: deadlineMs,
      stream: (range, from) => {
        if (coordinator === null) throw new Error('data plane not started yet');
        return coordinator.streamRange(range, from);
      },
    });
    if (meta.metadata.hadLog || opts.bootstrap) recordNodeIdentity(opts.dataDir, nodeId, env.now());
    const gossip = new Gossip(env, {
      peerAddress,
      httpAddress,
      epoch: meta.metadata.epoch(),
    });
    coordinator = new Coordinator(env, {
      engine: opts.engine,
      metadata: meta.metadata,
      gossip,
    });
    const live = coordinator;
    linkMetadataToGossip(nodeId, meta.metadata, gossip);
    gossip.onLivenessChange((id, liveness) => log.info({ member: id, liveness }, 'liveness'));
    meta.metadata.onChange((s: ClusterState) =>
      log.info(
        { epoch: s.epoch, operation: s.operation?.kind ?? null, node: s.operation?.node },
        'cluster metadata changed',
      ),
    );
    gossip.start();
    const cleanup = new RangeCleanup(env, meta.metadata, opts.engine);
    cleanup.start();
    await live.ready();
    log.info(
      {
        peerAddress,
        httpAddress,
        epoch: meta.metadata.epoch(),
        restart: identity.kind === 'restart',
        bootstrap: opts.bootstrap,
      },
      'cluster node started',
    );
    started = true;

    let closed = false;
    const watchdog = setInterval(() => {
      const fatal = meta.metadata.fatal();
      if (fatal === null || closed) return;
      clearInterval(watchdog);
      opts.onFatal(fatal);
    }, FATAL_CHECK_MS);
    watchdog.unref();
    return {
      env,
      coordinator: live,
      meta,
      gossip,
      transport,
      peerAddress,
      httpAddress,
      registerRoutes: (app) =>
        registerAdminRoutes(app, {
          nodeId,
          metadata: meta.metadata,
          service: meta.service,
          gossip,
          repair: () => live.repair(),
        }),
      registerMetrics: (registry) =>
        registerClusterMetrics(registry, {
          metadata: meta.metadata,
          gossip,
          coordinator: live,
          transport,
        }),
      join: async () => {
        if (meta.metadata.hadLog) return;
        await joinWhenFree(env, meta, deadlineMs, log);
        recordNodeIdentity(opts.dataDir, nodeId, env.now());
        log.info({ epoch: meta.metadata.epoch() }, 'join staged');
      },
      close: async () => {
        if (closed) return;
        closed = true;
        clearInterval(watchdog);
        // Say goodbye first, so peers stop routing to this node at once, not after detection.
        gossip.leave();
        cleanup.stop();
        await live.close();
        await meta.stop();
        await transport.close();
      },
    };
  } finally {
    if (!started) await transport.close();
  }
}

/**
 * Nodes started together (`--seeds` on several new nodes) ask to join at once; the cluster
 * stages one operation at a time and refuses the others with `conflict` ("... is in flight").
 * That refusal is temporary for a joiner, so it waits and asks again until the deadline.
 */
async function joinWhenFree(
  env: ClusterEnv,
  meta: MetadataNode,
  deadlineMs: number,
  log: Logger,
): Promise<void> {
  const deadline = env.monotonic() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await meta.join();
      return;
    } catch (e) {
      const busy =
        e instanceof CountError && e.code === 'conflict' && / is in flight /.test(e.message);
      if (!busy || env.monotonic() >= deadline) throw e;
      log.info({ reason: e.message }, 'another operation is in flight; asking to join again');
    }
    await new Promise<void>((r) => env.setTimer(Math.min(2000, 250 * (attempt + 1)), r));
  }
}

/**
 * A new (or wiped) disk must not join under the id of a member that is still in the cluster:
 * its Raft log is gone, and answering votes with an empty log under the old id could let a
 * leader without committed metadata win. Asks the seeds for the state first.
 */
async function refuseLostMember(
  env: ClusterEnv,
  seeds: readonly string[],
  dataDir: string,
  deadlineMs: number,
  log: Logger,
): Promise<void> {
  const deadline = env.monotonic() + deadlineMs;
  let lastError = 'no seed asked';
  for (let attempt = 0; env.monotonic() < deadline; attempt++) {
    const seed = seeds[attempt % seeds.length];
    const pid = seedPeerId(seed);
    env.net.addPeer(pid, seed);
    let state: ClusterState | null = null;
    try {
      const bytes = await env.net.request(pid, META_STATE, {}, SEED_REQUEST_TIMEOUT_MS);
      if (bytes instanceof Uint8Array) state = decodeClusterState(bytes);
    } catch (e) {
      lastError = `${seed}: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      env.net.removePeer(pid);
    }
    // A seed that has not joined anything yet (epoch 0) cannot tell; ask another.
    if (state !== null && state.epoch > 0) {
      const known = state.nodes[env.nodeId];
      if (known !== undefined && known.state !== 'left') {
        throw new Error(
          `node ${env.nodeId} is a ${known.state} member of the cluster, but ${dataDir} holds no cluster state (a new or wiped disk). Rejoining under the same id could lose committed metadata: run \`countctl remove ${env.nodeId}\` first and start it again, or start this disk with a new --node-id`,
        );
      }
      return;
    }
    if (state !== null) lastError = `${seed}: not a member of a cluster yet`;
    log.warn({ seed, error: lastError }, 'seed did not answer; trying the next');
    await new Promise<void>((r) => env.setTimer(Math.min(2000, 200 * (attempt + 1)), r));
  }
  throw new Error(`no seed answered within ${deadlineMs} ms (${lastError})`);
}

import type { ClusterEnv } from '../env/cluster-env.js';
import type { NodeAddress } from './cluster-commands.js';
import { requestJoin } from './join-client.js';
import { MetaService } from './meta-service.js';
import { ClusterMetadata, type MetadataOptions } from './metadata.js';
import { OperationDriver, type OperationOptions, type StreamRange } from './operations.js';

/**
 * The metadata side of one cluster node, assembled: the Raft-hosted metadata, the operation
 * driver (with the data plane's streamRange) and the meta.* service. `--bootstrap` founds a
 * new group on an empty disk; `--seeds` asks to join when the disk holds no group; a restart
 * (the disk holds a group) just rejoins its Raft group and records new addresses if it moved.
 *
 * Two phases, because the join makes the leader stream ranges to this node at once:
 *   const node = await startMetadataNode(env, { ..., stream: (r, from) => coordinator.streamRange(r, from) });
 *   const coordinator = new Coordinator(env, { metadata: node.metadata, ... });
 *   await node.join();   // no-op after a bootstrap or a restart
 */
export interface MetadataNodeOptions {
  readonly self: NodeAddress;
  readonly bootstrap: boolean;
  /** Peer addresses ("host:port") of existing members. */
  readonly seeds: readonly string[];
  /** Replication factor (bootstrap only). */
  readonly rf: number;
  /** Raft voters, 3 or 5 (bootstrap only). */
  readonly voters?: number;
  /** Pulls a range from a current owner (the data plane's Coordinator.streamRange). */
  readonly stream: StreamRange;
  readonly metadata?: Partial<MetadataOptions>;
  readonly operations?: Partial<OperationOptions>;
  /** How long to keep asking the seeds. */
  readonly joinDeadlineMs?: number;
}

export interface MetadataNode {
  readonly metadata: ClusterMetadata;
  readonly driver: OperationDriver;
  readonly service: MetaService;
  /** Asks the seeds to let this node join when its disk held no group; resolves once staged. */
  join(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMetadataNode(
  env: ClusterEnv,
  opts: MetadataNodeOptions,
): Promise<MetadataNode> {
  const dir = opts.metadata?.dir;
  if (opts.bootstrap) {
    await ClusterMetadata.bootstrap(
      env,
      {
        nodes: [opts.self],
        rf: opts.rf,
        ...(opts.voters === undefined ? {} : { voters: opts.voters }),
      },
      dir,
    );
  }
  const metadata = await ClusterMetadata.open(env, opts.metadata);
  const driver = new OperationDriver(env, metadata, opts.stream, opts.operations);
  const service = new MetaService(env, metadata, driver);
  driver.listen();
  service.listen();
  metadata.start();
  driver.watch();
  const node: MetadataNode = {
    metadata,
    driver,
    service,
    join: async () => {
      if (metadata.hadLog) return;
      await requestJoin(env, metadata, opts.seeds, opts.self, {
        ...(opts.joinDeadlineMs === undefined ? {} : { deadlineMs: opts.joinDeadlineMs }),
      });
    },
    stop: async () => {
      driver.unwatch();
      await metadata.stop();
    },
  };
  if (metadata.hadLog) {
    void refreshAddress(node, opts.self).catch(() => {
      // Best effort: the old addresses stay until the next restart tries again.
    });
  }
  return node;
}

async function refreshAddress(node: MetadataNode, self: NodeAddress): Promise<void> {
  const { metadata, service } = node;
  await metadata.catchUp(1);
  const known = metadata.state().nodes[self.id];
  if (known === undefined || known.state === 'left') return;
  if (known.httpAddress === self.httpAddress && known.peerAddress === self.peerAddress) return;
  await service.updateAddress(self);
}

import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RepairStats } from '../cluster/anti-entropy.js';
import {
  type ClusterStatus,
  clusterStatus,
  type GossipMembers,
} from '../cluster/cluster-status.js';
import type { MetaAction, MetaService } from '../cluster/meta-service.js';
import type { ClusterMetadata } from '../cluster/metadata.js';
import { CountError } from '../model/errors.js';
import { PeerError } from '../net/peer-transport.js';
import { errorReply, toCountError } from './error-reply.js';
import { parseJsonBody } from './request-params.js';

/**
 * The /admin/cluster/... routes countctl uses. Reads (status, members, ring) answer from this
 * node's committed view; changes (join, decommission, remove, cancel, resume, transfer-leader)
 * go to the metadata leader through the meta.* service, which forwards them when needed.
 */
export interface AdminRoutesDeps {
  readonly nodeId: string;
  readonly metadata: ClusterMetadata;
  readonly service: MetaService;
  /** Gossip, for liveness in `status` (null: shown as unknown). */
  readonly gossip: GossipMembers | null;
  /**
   * Anti-entropy now, for the ranges this node initiates (it is their first live replica);
   * resolves with what it repaired. Without it, POST /admin/cluster/repair is not served.
   */
  readonly repair?: () => Promise<RepairStats>;
}

export async function registerAdminRoutes(
  app: FastifyInstance,
  deps: AdminRoutesDeps,
): Promise<void> {
  const status = async (): Promise<ClusterStatus> => {
    // Progress lives on the leader; status answers quickly without it when the leader is down.
    const progress =
      deps.metadata.state().operation === null ? null : await deps.service.quickProgress(300);
    return clusterStatus(
      deps.nodeId,
      deps.metadata.state(),
      deps.metadata.raftStatus(),
      deps.gossip,
      progress,
    );
  };

  app.get('/admin/cluster/status', (_req, reply) => answer(reply, status));
  app.get('/admin/cluster/members', (_req, reply) =>
    answer(reply, async () => ({ members: (await status()).members })),
  );
  app.get('/admin/cluster/progress', (_req, reply) =>
    answer(reply, async () => ({ progress: await deps.service.progress() })),
  );
  app.get('/admin/cluster/ring', (_req, reply) =>
    answer(reply, async () => {
      const ring = deps.metadata.ring();
      return {
        epoch: ring.epoch,
        rf: ring.rf,
        ranges: ring.ranges().map((r) => ({
          start: r.start,
          end: r.end,
          replicas: r.replicas,
          writeReplicas: r.writeReplicas,
        })),
      };
    }),
  );
  app.post('/admin/cluster/join', (req, reply) =>
    answer(reply, async () => {
      const b = bodyOf(req.body);
      const node = {
        id: stringField(b, 'node'),
        httpAddress: stringField(b, 'httpAddress'),
        peerAddress: stringField(b, 'peerAddress'),
      };
      const r = await deps.service.join(node);
      return { opId: r.opId, leader: r.leader };
    }),
  );
  const op = (path: string, action: MetaAction, needsNode: boolean) =>
    app.post(path, (req, reply) =>
      answer(reply, async () => {
        const node = needsNode ? stringField(bodyOf(req.body), 'node') : null;
        return deps.service.operate(action, node);
      }),
    );
  op('/admin/cluster/decommission', 'decommission', true);
  op('/admin/cluster/remove', 'remove', true);
  op('/admin/cluster/cancel', 'cancel', false);
  op('/admin/cluster/resume', 'resume', false);
  op('/admin/cluster/raft/transfer-leader', 'transfer-leader', true);
  const repair = deps.repair;
  if (repair !== undefined) {
    app.post('/admin/cluster/repair', (_req, reply) =>
      answer(reply, async () => ({ node: deps.nodeId, ...(await repair()) })),
    );
  }
}

async function answer(reply: FastifyReply, fn: () => Promise<unknown>): Promise<FastifyReply> {
  try {
    const body = await fn();
    return reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
  } catch (e) {
    return errorReply(reply, asCountError(e));
  }
}

function asCountError(e: unknown): CountError {
  if (e instanceof PeerError) {
    return new CountError(
      'consistency_unavailable',
      `metadata leader not reachable: ${e.message}`,
      {
        retryAfterSeconds: 1,
      },
    );
  }
  return toCountError(e);
}

function bodyOf(raw: unknown): Record<string, unknown> {
  // Count's HTTP server hands every body over as a Buffer (it parses JSON per route).
  const body = Buffer.isBuffer(raw) ? parseJsonBody(raw) : raw;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CountError('invalid_body', 'expected a JSON object', { field: 'body' });
  }
  return body as Record<string, unknown>;
}

function stringField(b: Record<string, unknown>, field: string): string {
  const v = b[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) {
    throw new CountError('invalid_parameter', `"${field}" must be a non-empty string`, { field });
  }
  return v;
}

import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Which node a data directory belongs to. A cluster member's Raft id is its node id, so a
 * member whose disk was wiped must not come back under its old id: with an empty Raft log it
 * could vote and help elect a leader that lacks committed metadata. The data dir records the
 * node id it was created for (`cluster-identity.json`); count-server uses that to tell a
 * restart (same dir) from a new disk, and refuses a new disk that claims the id of a live
 * member (see cluster-node.ts).
 */
export const IDENTITY_FILE = 'cluster-identity.json';

export interface NodeIdentity {
  readonly nodeId: string;
  /** Wall-clock ms when this data dir first joined or founded a cluster. */
  readonly createdAt: number;
}

export type IdentityCheck =
  /** The dir was a member (identity file or metadata log present): a restart. */
  | { readonly kind: 'restart' }
  /** No trace of membership: a new (or wiped) disk. */
  | { readonly kind: 'new' };

/** Reads the identity of `dataDir`; throws when it belongs to another node id. */
export function checkNodeIdentity(dataDir: string, nodeId: string, metaDir: string): IdentityCheck {
  const file = join(dataDir, IDENTITY_FILE);
  if (existsSync(file)) {
    const recorded = parseIdentity(readFileSync(file, 'utf8'), file);
    if (recorded.nodeId !== nodeId) {
      throw new Error(
        `the data dir ${dataDir} belongs to node ${recorded.nodeId}, not ${nodeId}: start it with --node-id ${recorded.nodeId}, or give ${nodeId} its own --data-dir`,
      );
    }
    return { kind: 'restart' };
  }
  const meta = join(dataDir, metaDir);
  // A metadata log without an identity file: a dir from before the file existed.
  if (existsSync(meta) && readdirSync(meta).length > 0) return { kind: 'restart' };
  return { kind: 'new' };
}

/** Records that `dataDir` now belongs to `nodeId` (atomically: write, then rename). */
export function recordNodeIdentity(dataDir: string, nodeId: string, now: number): void {
  const file = join(dataDir, IDENTITY_FILE);
  if (existsSync(file)) return;
  const tmp = `${file}.tmp`;
  const identity: NodeIdentity = { nodeId, createdAt: now };
  writeFileSync(tmp, `${JSON.stringify(identity)}\n`);
  renameSync(tmp, file);
}

function parseIdentity(text: string, file: string): NodeIdentity {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; it names the node this data dir belongs to`);
  }
  const o = v as Partial<NodeIdentity> | null;
  if (o === null || typeof o !== 'object' || typeof o.nodeId !== 'string') {
    throw new Error(`${file} does not name a node ({"nodeId": "..."})`);
  }
  return { nodeId: o.nodeId, createdAt: typeof o.createdAt === 'number' ? o.createdAt : 0 };
}

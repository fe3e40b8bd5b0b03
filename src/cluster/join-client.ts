import type { ClusterEnv } from '../env/cluster-env.js';
import { CountError } from '../model/errors.js';
import type { NodeAddress } from './cluster-commands.js';
import { type JoinReply, META_JOIN } from './meta-service.js';
import type { ClusterMetadata } from './metadata.js';

/**
 * The joining side of `--seeds`: a new node knows seed peer addresses, not their ids, so it
 * names each seed with a placeholder id that sorts after every real id ('~' > letters and
 * digits): the transport has the smaller id dial, so the joiner opens the connection and its
 * hello tells the seed who is calling. Once a seed answers, the placeholder is dropped and the
 * members are addressed by their real ids from the returned state.
 */

export interface JoinOptions {
  readonly requestTimeoutMs: number;
  /** Total time to keep trying the seeds in turn. */
  readonly deadlineMs: number;
}

export const DEFAULT_JOIN_OPTIONS: JoinOptions = { requestTimeoutMs: 5000, deadlineMs: 60_000 };

export function seedPeerId(address: string): string {
  return `~seed:${address}`;
}

/** Asks the seeds until one has the join staged; installs the returned state as the first view. */
export async function requestJoin(
  env: ClusterEnv,
  metadata: ClusterMetadata,
  seeds: readonly string[],
  self: NodeAddress,
  options: Partial<JoinOptions> = {},
): Promise<JoinReply> {
  const opts = { ...DEFAULT_JOIN_OPTIONS, ...options };
  if (seeds.length === 0) throw new CountError('invalid_parameter', 'no seeds to join through');
  const deadline = env.monotonic() + opts.deadlineMs;
  let lastError: unknown = null;
  for (let attempt = 0; env.monotonic() < deadline; attempt++) {
    const seed = seeds[attempt % seeds.length];
    const pid = seedPeerId(seed);
    env.net.addPeer(pid, seed);
    try {
      const reply = (await env.net.request(
        pid,
        META_JOIN,
        { node: self },
        opts.requestTimeoutMs,
      )) as JoinReply;
      metadata.adoptFetched(reply.state);
      return reply;
    } catch (e) {
      lastError = e;
      // A refusal (conflict, bad id) will not change by asking again; a seed that has left
      // the cluster just cannot help, so the next seed is asked.
      if (e instanceof CountError && !e.retryable && e.details?.reason !== 'left') throw e;
    } finally {
      env.net.removePeer(pid);
    }
    await new Promise<void>((r) => env.setTimer(Math.min(2000, 100 * (attempt + 1)), r));
  }
  throw new CountError(
    'consistency_unavailable',
    `no seed of ${seeds.join(', ')} accepted the join: ${
      lastError instanceof Error ? lastError.message : String(lastError)
    }`,
  );
}

import type { Message, RaftTransport } from '../../raft/types.js';
import type { PeerTransport } from './peer-transport.js';

/** The channel Raft messages travel on. */
export const RAFT_CHANNEL = 'raft';

const TYPES = new Set([
  'append',
  'appendResp',
  'vote',
  'voteResp',
  'heartbeat',
  'heartbeatResp',
  'snapshot',
  'snapshotResp',
  'timeoutNow',
]);

/** Raft's transport over the peer transport: one-way messages on the `raft` channel. */
export class RaftPeerTransport implements RaftTransport {
  constructor(private readonly peers: PeerTransport) {}

  send(message: Message): void {
    this.peers.send(message.to, RAFT_CHANNEL, message);
  }

  /** Hands every well-formed Raft message addressed to this node to `receive`. */
  listen(receive: (message: Message) => void): void {
    this.peers.on(RAFT_CHANNEL, (from, payload) => {
      if (isRaftMessage(payload) && payload.from === from && payload.to === this.peers.nodeId) {
        receive(payload);
      }
    });
  }
}

/** A shape check at the trust boundary; the core validates the rest. */
export function isRaftMessage(x: unknown): x is Message {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  return (
    typeof m.type === 'string' &&
    TYPES.has(m.type) &&
    typeof m.from === 'string' &&
    typeof m.to === 'string' &&
    typeof m.term === 'number' &&
    Number.isInteger(m.term) &&
    m.term >= 0
  );
}

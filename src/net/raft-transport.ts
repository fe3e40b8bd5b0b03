import { isWellFormedMessage } from '../../raft/message-shape.js';
import type { Message, RaftTransport } from '../../raft/types.js';
import type { PeerTransport } from './peer-transport.js';

/** The channel Raft messages travel on. */
export const RAFT_CHANNEL = 'raft';

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

/** A shape check at the trust boundary (the core checks again before stepping). */
export function isRaftMessage(x: unknown): x is Message {
  return isWellFormedMessage(x);
}

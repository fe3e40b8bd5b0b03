import type { NodeId, RaftErrorCode } from './types.js';

/**
 * The error the runtime rejects with. `code` is stable (RaftErrorCode); `leader` is the leader
 * this node knows of, so a client can retry there.
 */
export class RaftError extends Error {
  readonly code: RaftErrorCode;
  readonly leader: NodeId | null;

  constructor(code: RaftErrorCode, message: string, leader: NodeId | null = null) {
    super(message);
    this.name = 'RaftError';
    this.code = code;
    this.leader = leader;
  }
}

export function isRaftError(e: unknown): e is RaftError {
  return e instanceof RaftError;
}

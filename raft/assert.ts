/**
 * raft/'s own invariant check (it imports nothing from src/). Stays on in production: a broken
 * invariant throws at the step where it happened, so the simulator reports it with its seed.
 */
export class RaftInvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftInvariantViolation';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new RaftInvariantViolation(message);
}

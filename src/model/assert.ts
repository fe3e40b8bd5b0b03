/**
 * Invariant checks that stay on in production (TigerBeetle style): a broken invariant throws a
 * named error at the step where it happened, so the simulator reports it with its seed.
 */
export class AssertionFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionFailed';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailed(message);
}

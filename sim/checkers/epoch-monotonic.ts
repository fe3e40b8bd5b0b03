/**
 * Epochs never go back on any node: every state a node's MetadataView adopts, in this
 * incarnation or any later one (a restart from its disk), has an epoch at least the one before.
 * A restarted node must come back at the newest epoch it had adopted, not at the older one its
 * Raft log replays to.
 */
export class EpochMonotonic {
  private readonly last = new Map<string, { epoch: number; incarnation: number }>();

  /** The node's view adopted `epoch`; returns a violation or null. */
  observe(node: string, incarnation: number, epoch: number, at: number): string | null {
    const before = this.last.get(node);
    if (before !== undefined && epoch < before.epoch) {
      const where =
        before.incarnation === incarnation
          ? `(incarnation ${incarnation})`
          : `(incarnation ${before.incarnation} had adopted it; incarnation ${incarnation} restarted lower)`;
      return `at ${at}ms ${node} ${where} went back from epoch ${before.epoch} to ${epoch}`;
    }
    this.last.set(node, { epoch, incarnation });
    return null;
  }
}

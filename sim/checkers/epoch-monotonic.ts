/**
 * Epochs never go back: within one incarnation of a node, every state its MetadataView
 * adopts has an epoch at least the one before. (A restarted node starts from its disk and may
 * briefly be behind what it had fetched before the crash; each incarnation is checked alone.)
 */
export class EpochMonotonic {
  private readonly last = new Map<string, number>();

  /** The node's view adopted `epoch`; returns a violation or null. */
  observe(node: string, incarnation: number, epoch: number, at: number): string | null {
    const key = `${node}#${incarnation}`;
    const before = this.last.get(key);
    if (before !== undefined && epoch < before) {
      return `at ${at}ms ${node} (incarnation ${incarnation}) went back from epoch ${before} to ${epoch}`;
    }
    this.last.set(key, epoch);
    return null;
  }
}

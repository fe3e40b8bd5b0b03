import type { ClusterState } from '../../src/cluster/cluster-state.js';
import type { MetadataView } from '../../src/cluster/metadata.js';
import { Ring } from '../../src/cluster/ring.js';

/** A MetadataView the test drives: `set` a new state and every listener hears it at once. */
export class FakeMetadataView implements MetadataView {
  private readonly listeners: ((s: ClusterState) => void)[] = [];

  constructor(private s: ClusterState) {}

  state() {
    return this.s;
  }
  ring() {
    return Ring.from(this.s);
  }
  epoch() {
    return this.s.epoch;
  }
  onChange(l: (s: ClusterState) => void) {
    this.listeners.push(l);
  }
  set(s: ClusterState) {
    this.s = s;
    for (const l of this.listeners) l(s);
  }
  /** Already caught up, unless a test says otherwise. */
  catchUp(_epoch: number, _hint?: string): Promise<void> {
    return Promise.resolve();
  }
}

/** A node address for tests: `h-<id>` and `p-<id>`. */
export const addr = (id: string) => ({ id, httpAddress: `h-${id}`, peerAddress: `p-${id}` });

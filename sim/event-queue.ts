import { assert } from '../src/model/assert.js';

/**
 * The simulator's one event queue: a binary min-heap ordered by (virtual time, insertion
 * sequence). The sequence breaks ties, so two events due at the same instant run in the order
 * they were scheduled -- never in an order that depends on heap layout or timing.
 */
export interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

export class EventQueue {
  private heap: SimEvent[] = [];
  private nextSeq = 0;
  /** Bound on pending events: a runaway feedback loop fails fast instead of eating memory. */
  readonly capacity: number;

  constructor(capacity = 1_000_000) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.heap.length;
  }

  push(at: number, run: () => void): SimEvent {
    assert(Number.isFinite(at), 'EventQueue.push: time must be finite');
    assert(this.heap.length < this.capacity, 'EventQueue: capacity exceeded (runaway schedule?)');
    const ev: SimEvent = { at, seq: this.nextSeq++, run, cancelled: false };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = ev;
    return ev;
  }

  peek(): SimEvent | undefined {
    return this.heap[0];
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r], h[l]) ? r : l;
        if (!before(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

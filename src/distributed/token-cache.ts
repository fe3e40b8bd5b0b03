import type { Token } from '../cluster/cluster-state.js';
import { tokenOf } from '../cluster/ring.js';

/**
 * tokenOf (SHA-256) per series key, memoized: the write path asks once per series per batch,
 * and steady ingest repeats the same series. Bounded: the map is dropped when full (cheap, and
 * the working set refills it at once).
 */
export class TokenCache {
  private readonly tokens = new Map<string, Token>();

  constructor(private readonly maxEntries = 100_000) {}

  tokenOf(series: string): Token {
    let t = this.tokens.get(series);
    if (t === undefined) {
      t = tokenOf(series);
      if (this.tokens.size >= this.maxEntries) this.tokens.clear();
      this.tokens.set(series, t);
    }
    return t;
  }
}

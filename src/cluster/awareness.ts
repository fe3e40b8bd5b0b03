import { assert } from '../model/assert.js';

/**
 * Lifeguard's local health multiplier ("awareness"): a score in [0, max - 1] that rises when
 * this node shows signs of being the slow one (probes fail although relays did not send the
 * nacks they owed, peers suspect us, our timers fire late) and falls with each successful probe.
 * Probe intervals and timeouts are multiplied by score + 1, so an overloaded node probes less
 * often and waits longer before it blames others for its own slowness.
 */
export class Awareness {
  private value = 0;

  constructor(readonly max: number) {
    assert(Number.isInteger(max) && max >= 1, 'Awareness: max must be a positive integer');
  }

  get score(): number {
    return this.value;
  }

  /** Adds `delta` (negative for good news), clamped to [0, max - 1]. */
  apply(delta: number): void {
    assert(Number.isInteger(delta), 'Awareness.apply: delta must be an integer');
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta));
  }

  /** `ms` stretched by the current health: ms * (score + 1). */
  scale(ms: number): number {
    return ms * (this.value + 1);
  }
}

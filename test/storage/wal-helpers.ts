import type { Env, TimerHandle } from '../../src/env/env.js';
import type { Vfs } from '../../src/storage/vfs.js';

/**
 * Test helpers for the WAL: a manual-clock Env and deterministic record payloads that can be
 * recognised byte for byte after a crash.
 */
export class ManualEnv implements Env {
  private clock = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];

  constructor(
    readonly vfs: Vfs,
    private readonly rand: () => number = () => 0.5,
  ) {}

  now(): number {
    return 1_700_000_000_000 + this.clock;
  }
  monotonic(): number {
    return this.clock;
  }
  random(): number {
    return this.rand();
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const t = { at: this.clock + Math.max(0, delayMs), fn, live: true };
    this.timers.push(t);
    return {
      cancel: () => {
        t.live = false;
      },
    };
  }
  pendingTimers(): number {
    return this.timers.filter((t) => t.live).length;
  }
  /** Moves the clock forward, firing due timers in order. */
  advance(ms: number): void {
    const until = this.clock + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.live = false;
      this.clock = due.at;
      due.fn();
    }
    this.clock = until;
    this.timers = this.timers.filter((t) => t.live);
  }
}

export { seeded } from './seeded-random.js';

/** Payload of record `id`: its id in the first 4 bytes, then bytes derived from the id. */
export function payloadFor(id: number, size: number): Uint8Array {
  const p = new Uint8Array(Math.max(4, size));
  new DataView(p.buffer).setUint32(0, id, true);
  let x = (id * 2654435761) >>> 0;
  for (let i = 4; i < p.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    p[i] = x >>> 24;
  }
  return p;
}

/** The id of a payload made by payloadFor, or -1 if the bytes are not exactly such a payload. */
export function idOf(payload: Uint8Array): number {
  if (payload.length < 4) return -1;
  const id = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
  const expected = payloadFor(id, payload.length);
  return Buffer.from(expected).equals(payload) ? id : -1;
}

export async function settle(turns = 50): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { NodeVfs } from '../../src/env/node-vfs.js';
import { createRealEnv } from '../../src/env/real-env.js';

describe('createRealEnv', () => {
  it('provides clocks, random, timers that fire and timers that cancel', async () => {
    const env = createRealEnv(tmpdir());
    expect(Math.abs(env.now() - Date.now())).toBeLessThan(1000);
    const m0 = env.monotonic();
    const r = env.random();
    expect(r >= 0 && r < 1).toBe(true);
    let cancelledFired = false;
    const h = env.setTimer(5, () => {
      cancelledFired = true;
    });
    h.cancel();
    await new Promise<void>((resolve) => env.setTimer(20, resolve));
    expect(cancelledFired).toBe(false);
    expect(env.monotonic() - m0).toBeGreaterThanOrEqual(15);
    expect(env.vfs).toBeInstanceOf(NodeVfs);
  });

  it('a zero-delay timer runs on a later turn, not synchronously', async () => {
    const env = createRealEnv(tmpdir());
    let ran = false;
    const p = new Promise<void>((resolve) =>
      env.setTimer(0, () => {
        ran = true;
        resolve();
      }),
    );
    expect(ran).toBe(false);
    await p;
    expect(ran).toBe(true);
  });
});

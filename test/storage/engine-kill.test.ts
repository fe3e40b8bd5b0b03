import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRealEnv } from '../../src/env/real-env.js';
import { openEngine } from '../../src/storage/engine.js';
import { runUntilKilled } from '../helpers/kill-child.js';

const root = new URL('../../', import.meta.url).pathname;
const built = existsSync(join(root, 'dist/src/storage/engine.js'));
const fixture = join(root, 'test/storage/fixtures/engine-writer.mjs');
if (!built) {
  console.warn(
    'engine-kill.test.ts skipped: dist/ is missing; run `npm run build` (npm test does)',
  );
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the writer child, SIGKILLed `killAfterMs` after it is ready; returns the acked batches. */
function runAndKill(
  dir: string,
  t0: number,
  prefix: string,
  killAfterMs: number,
): Promise<Set<number>> {
  return runUntilKilled(fixture, [dir, String(t0), prefix], (line, _acked, kill) => {
    if (line === 'ready') setTimeout(kill, killAfterMs);
  });
}

describe.skipIf(!built)('crash recovery on real files (killed child process)', () => {
  it('keeps every acknowledged batch when the writer is SIGKILLed at a random moment', async () => {
    const t0 = Date.now() - 3600_000;
    const dir = mkdtempSync(join(tmpdir(), 'count-kill-'));
    dirs.push(dir);
    let total = 0;
    for (let round = 0; round < 3; round++) {
      const prefix = `k${round}`;
      const acked = await runAndKill(dir, t0, prefix, 300 + Math.floor(Math.random() * 900));
      total += acked.size;
      const engine = await openEngine(createRealEnv(dir), { blockRangeMs: 60_000 });
      try {
        for (let s = 0; s < 10; s++) {
          const got = await engine.readRange(`${prefix}{n="${s}"}`, t0, t0 + 1e9);
          const have = new Map<number, number>();
          for (let i = 0; i < got.timestamps.length; i++)
            have.set(got.timestamps[i], got.values[i]);
          for (const n of acked) {
            for (let j = 0; j < 10; j++) {
              const t = t0 + n * 10 + j;
              if (have.get(t) !== n * 1000 + s * 10 + j)
                throw new Error(`round ${round}: lost batch ${n} series ${s}`);
            }
          }
          for (const [t, v] of have) {
            const rel = t - t0;
            expect(v).toBe(Math.floor(rel / 10) * 1000 + s * 10 + (rel % 10));
          }
        }
      } finally {
        await engine.close();
      }
    }
    expect(total).toBeGreaterThan(0);
  });
});

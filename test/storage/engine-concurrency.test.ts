import { describe, expect, it } from 'vitest';
import { openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { batchOf, HOUR, ManualEnv } from './engine-test-env.js';
import { seeded } from './seeded-random.js';

const T0 = 1_699_999_200_000;

describe('storage engine under concurrent operations', () => {
  it('a read sees every point acknowledged before it started, while cuts and compactions run', async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const rnd = seeded(seed);
      const e = await openEngine(new ManualEnv(new MemoryVfs(), T0 + 10 * HOUR), {
        blockRangeMs: HOUR,
        outOfOrderWindowMs: 3 * HOUR,
        maxPointsPerChunk: 8,
        compactionRangesMs: [2 * HOUR, 4 * HOUR],
      });
      const acked = new Map<number, number>();
      const inflight: Promise<unknown>[] = [];
      let next = T0;
      let failures = 0;
      for (let step = 0; step < 300; step++) {
        const r = rnd();
        if (r < 0.5) {
          const pts: Array<[string, number, number]> = [];
          for (let i = 0; i < 10; i++) {
            if (rnd() >= 0.2) next += 60_000;
            const t = next - (rnd() < 0.2 ? Math.floor(rnd() * 2 * HOUR) : 0);
            pts.push(['s', t, Math.floor(rnd() * 100)]);
          }
          inflight.push(
            e.write(batchOf(pts)).then(() => {
              for (const [, t, v] of pts) acked.set(t, Math.max(acked.get(t) ?? v, v));
            }),
          );
        } else if (r < 0.6) {
          inflight.push(e.flush());
        } else if (r < 0.65) {
          inflight.push(e.compact());
        } else if (r < 0.7) {
          inflight.push(e.maintain());
        } else {
          const want = new Map(acked);
          inflight.push(
            e.readRange('s', 0, T0 * 2).then((got) => {
              const have = new Map<number, number>();
              for (let i = 0; i < got.timestamps.length; i++)
                have.set(got.timestamps[i], got.values[i]);
              for (const [t, v] of want) if (!((have.get(t) ?? -1) >= v)) failures++;
            }),
          );
        }
        if (rnd() < 0.3) await inflight[inflight.length - 1];
      }
      await Promise.all(inflight);
      expect(failures).toBe(0);
      const final = await e.readRange('s', 0, T0 * 2);
      expect(final.timestamps.length).toBe(acked.size);
      expect(e.stats().compactions).toBeGreaterThan(0);
      await e.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { sweep } from '../../sim/sweep.js';

/**
 * The CI sweep: 500 seeds of a 5-node group under faults, each with its own knobs and fault
 * schedule, and every checker on. Kept short in virtual time per seed so it fits the budget.
 */
describe('seed sweep', () => {
  it('500 seeds pass every checker', { timeout: 300_000 }, async () => {
    const r = await sweep({
      from: 1,
      to: 500,
      nodes: 5,
      bugs: [],
      faultMs: 4000,
      recoverMs: 2000,
      shrinkAttempts: 0,
    });
    if (r.failure !== null) {
      const f = r.failure.result;
      expect.fail(`seed ${f.seed}: ${f.failure?.checker}: ${f.failure?.explanation}`);
    }
    expect(r.seedsRun).toBe(500);
    console.log(
      `sweep: 500 seeds in ${(r.wallMs / 1000).toFixed(1)} s, ` +
        `${((500 / r.wallMs) * 60_000).toFixed(0)} seeds/min, ${Math.round(r.virtualMs / r.wallMs)}x`,
    );
  });
});

import { describe, expect, it } from 'vitest';
import type { FaultEvent } from '../../sim/fault-schedule.js';
import { shrinkSchedule } from '../../sim/shrink.js';

const crash = (at: number, node: string): FaultEvent => ({ at, kind: 'crash', node, tear: false });

describe('shrinkSchedule', () => {
  it('keeps only the events the failure needs', async () => {
    const schedule = Array.from({ length: 10 }, (_, i) => crash(i * 10, `n${i}`));
    // "Fails" when the crashes of n2 and n7 are both present.
    const fails = async (s: readonly FaultEvent[]) =>
      s.some((e) => e.kind === 'crash' && e.node === 'n2') &&
      s.some((e) => e.kind === 'crash' && e.node === 'n7');
    const r = await shrinkSchedule(schedule, fails, 100);
    expect(r.schedule.map((e) => (e.kind === 'crash' ? e.node : ''))).toEqual(['n2', 'n7']);
    expect(r.attempts).toBe(10);
  });

  it('stops after the attempt bound', async () => {
    const schedule = Array.from({ length: 10 }, (_, i) => crash(i, 'n1'));
    const r = await shrinkSchedule(schedule, async () => true, 3);
    expect(r.attempts).toBe(3);
    expect(r.schedule).toHaveLength(7);
  });
});

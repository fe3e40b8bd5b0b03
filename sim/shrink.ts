import type { FaultSchedule } from './fault-schedule.js';

/**
 * Shrinks a failing fault schedule: try removing each event in turn (last first, since late
 * faults are the likeliest to be irrelevant) and keep every removal after which the same seed
 * still fails. Bounded by `maxAttempts` replays; the result is smaller, not necessarily minimal.
 */
export async function shrinkSchedule(
  schedule: FaultSchedule,
  stillFails: (candidate: FaultSchedule) => Promise<boolean>,
  maxAttempts: number,
): Promise<{ schedule: FaultSchedule; attempts: number }> {
  let current = schedule;
  let attempts = 0;
  let i = current.length - 1;
  while (i >= 0 && attempts < maxAttempts) {
    const candidate = current.slice(0, i).concat(current.slice(i + 1));
    attempts++;
    if (await stillFails(candidate)) current = candidate;
    i--;
  }
  return { schedule: current, attempts };
}

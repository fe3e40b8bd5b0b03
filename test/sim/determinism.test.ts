import { describe, expect, it } from 'vitest';
import { generateFaultSchedule } from '../../sim/fault-schedule.js';
import { DEFAULT_SIMULATION, runSimulation } from '../../sim/simulation.js';

const short = { ...DEFAULT_SIMULATION, faultMs: 4000, recoverMs: 2000 };

describe('simulation determinism', () => {
  it('the same seed gives the same trace hash, with or without keeping the trace', async () => {
    const a = await runSimulation({ ...short, seed: 7 });
    const b = await runSimulation({ ...short, seed: 7 });
    const c = await runSimulation({ ...short, seed: 7, keepTrace: true });
    expect(a.failure).toBeNull();
    expect(b.hash).toBe(a.hash);
    expect(c.hash).toBe(a.hash);
    expect(b.eventsRun).toBe(a.eventsRun);
    expect(b.ops).toEqual(a.ops);
    // The run did real work: clients completed operations and the trace is non-trivial.
    expect(a.ops.ok).toBeGreaterThan(20);
    expect(a.traceEvents).toBeGreaterThan(1000);
    const lines = c.trace!.trimEnd().split('\n');
    expect(lines).toHaveLength(c.traceEvents);
    expect(JSON.parse(lines[0])).toMatchObject({ t: 0, k: 'start' });
  });

  it('different seeds give different traces', async () => {
    const hashes = new Set<string>();
    for (let seed = 1; seed <= 4; seed++)
      hashes.add((await runSimulation({ ...short, seed })).hash);
    expect(hashes.size).toBe(4);
  });

  it('runs with a planted bug are deterministic too', async () => {
    const x = await runSimulation({ ...short, seed: 11, bugs: ['stale-vote'] });
    const y = await runSimulation({ ...short, seed: 11, bugs: ['stale-vote'] });
    expect(y.hash).toBe(x.hash);
  });

  it('the fault schedule is a function of the seed and covers every kind of fault', () => {
    const opts = {
      nodes: ['n1', 'n2', 'n3', 'n4', 'n5'],
      startMs: 500,
      endMs: 200_000,
      meanGapMs: 500,
    };
    expect(generateFaultSchedule(3, opts)).toEqual(generateFaultSchedule(3, opts));
    const kinds = new Set(generateFaultSchedule(3, opts).map((e) => e.kind));
    for (const k of [
      'partition',
      'heal',
      'crash',
      'restart',
      'crash-leader',
      'crash-on-send',
      'vote-amnesia',
      'remove',
      'add',
      'transfer',
      'network',
    ]) {
      expect(kinds.has(k as never)).toBe(true);
    }
    const shapes = new Set(
      generateFaultSchedule(3, opts).flatMap((e) =>
        e.kind === 'partition' ? [e.partition.shape] : [],
      ),
    );
    expect(shapes.size).toBe(5);
  });
});

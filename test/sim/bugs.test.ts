import { describe, expect, it } from 'vitest';
import type { BugName } from '../../raft/types.js';
import { describeFault } from '../../sim/fault-schedule.js';
import { runSimulation } from '../../sim/simulation.js';
import { simulationOptions, sweep } from '../../sim/sweep.js';

/**
 * Mutation check: with a known bug planted in raft/, a bounded sweep must fail. A checker that
 * never fails proves nothing. Runs are deterministic, so each sweep stops at the same seed
 * every time; the bounds leave room for the Raft code to change under them.
 */
const SEED_BOUND = 60;

const cases: { bug: BugName; checkers: string[] }[] = [
  // Figure 8: the commit rule breaks first; losses (committed-entry-kept) may follow.
  {
    bug: 'old-term-commit',
    checkers: ['leader-commits-own-term', 'committed-entry-kept', 'same-applied-prefix'],
  },
  // A vote lost in a crash is granted again in the same term: two votes, then two leaders.
  { bug: 'no-vote-fsync', checkers: ['one-vote-per-term', 'one-leader-per-term'] },
  // A leader elected without the latest entries overwrites committed ones.
  {
    bug: 'stale-vote',
    checkers: ['committed-entry-kept', 'same-applied-prefix', 'one-leader-per-term'],
  },
  // A new leader answers reads from a commit index that misses acknowledged writes.
  { bug: 'early-read-index', checkers: ['read-after-own-term-commit', 'linearizability'] },
];

describe('planted bugs are caught', () => {
  for (const { bug, checkers } of cases) {
    it(`--bug ${bug} fails a sweep of at most ${SEED_BOUND} seeds`, {
      timeout: 120_000,
    }, async () => {
      const r = await sweep({
        from: 1,
        to: SEED_BOUND,
        nodes: 5,
        bugs: [bug],
        faultMs: 8000,
        recoverMs: 3000,
        shrinkAttempts: 0,
      });
      expect(r.failure, `no failure in ${SEED_BOUND} seeds with ${bug}`).not.toBeNull();
      const f = r.failure!.result;
      expect(checkers).toContain(f.failure!.checker);
      // The failing seed replays to the same failure: it is a reproducible report.
      const again = await runSimulation({
        ...simulationOptions(f.seed, { from: 0, to: 0, nodes: 5, bugs: [bug], shrinkAttempts: 0 }),
      });
      expect(again.hash).toBe(f.hash);
      expect(again.failure).toEqual(f.failure);
    });
  }

  // With the protocol-rule checks off, the end-to-end checkers must catch bugs by their effect:
  // a stale read the linearizability checker rejects, two leaders in one term.
  const endToEnd: { bug: BugName; checker: string }[] = [
    { bug: 'early-read-index', checker: 'linearizability' },
    { bug: 'no-vote-fsync', checker: 'one-leader-per-term' },
  ];
  for (const { bug, checker } of endToEnd) {
    it(`--bug ${bug} is caught by ${checker} alone within 30 seeds of a 3-node group`, {
      timeout: 120_000,
    }, async () => {
      const r = await sweep({
        from: 1,
        to: 30,
        nodes: 3,
        bugs: [bug],
        ruleChecks: false,
        shrinkAttempts: 0,
      });
      expect(r.failure, `no failure in 30 seeds with ${bug}`).not.toBeNull();
      expect(r.failure!.result.failure!.checker).toBe(checker);
    });
  }

  it('the same sweeps pass without the bug (the checkers do not cry wolf)', {
    timeout: 120_000,
  }, async () => {
    const r = await sweep({ from: 1, to: 30, nodes: 5, bugs: [], shrinkAttempts: 0 });
    expect(r.failure).toBeNull();
  });

  it('shrinking keeps a failing schedule and drops faults it does not need', {
    timeout: 120_000,
  }, async () => {
    const r = await sweep({
      from: 1,
      to: SEED_BOUND,
      nodes: 5,
      bugs: ['old-term-commit'],
      shrinkAttempts: 12,
    });
    const f = r.failure!;
    expect(f.shrinkReplays).toBeLessThanOrEqual(12);
    expect(f.shrunk.length).toBeLessThanOrEqual(f.result.schedule.length);
    const replay = await runSimulation({
      ...simulationOptions(f.result.seed, {
        from: 0,
        to: 0,
        nodes: 5,
        bugs: ['old-term-commit'],
        shrinkAttempts: 0,
      }),
      schedule: f.shrunk,
    });
    expect(replay.failure?.checker, f.shrunk.map(describeFault).join('\n')).toBe(
      f.result.failure!.checker,
    );
  });
});

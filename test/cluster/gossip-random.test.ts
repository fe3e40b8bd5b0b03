import { expect, test } from 'vitest';
import { SimRandom } from '../../sim/random.js';
import { GossipHarness } from './gossip-harness.js';

/**
 * Randomized runs: a fault schedule of kills, restarts, partitions, isolated nodes, stalls,
 * loss and epoch bumps for two minutes of virtual time, then a healthy network. Checked all
 * along: epochs as seen by any observer never go back, nor does a node's own incarnation
 * within one life; checked at the end: every running node sees every running node alive and
 * every stopped node dead, and agrees on every running node's incarnation and epoch.
 */

interface RunResult {
  readonly violations: string[];
  readonly faults: number;
}

function randomRun(seed: number, nodes: number): RunResult {
  const rnd = SimRandom.stream(seed, 'gossip-faults');
  const h = new GossipHarness({ nodes, seed, maxDelayMs: 40 });
  h.startAll();
  h.runUntil(() => h.converged(), 10_000);
  const violations: string[] = [];
  const epochs = new Map<string, number>(); // "observer>member" -> highest epoch seen
  const incarnations = new Map<string, number>();
  const lives = new Map<string, number>();
  const localEpoch = new Map<string, number>();
  let faults = 0;

  const check = (): void => {
    for (const o of h.upIds()) {
      for (const v of h.gossip(o).members()) {
        const key = `${o}>${v.id}@${lives.get(o) ?? 0}`;
        if (v.epoch < (epochs.get(key) ?? 0)) {
          violations.push(`${o} saw ${v.id}'s epoch go back from ${epochs.get(key)} to ${v.epoch}`);
        }
        epochs.set(key, v.epoch);
      }
      const incKey = `${o}@${lives.get(o) ?? 0}`;
      const inc = h.gossip(o).localIncarnation;
      if (inc < (incarnations.get(incKey) ?? 0)) violations.push(`${o}'s incarnation went back`);
      incarnations.set(incKey, inc);
    }
  };

  const end = h.now + 120_000;
  while (h.now < end) {
    h.runFor(rnd.int(500, 5_000));
    check();
    const roll = rnd.next();
    const id = rnd.pick(h.ids);
    faults++;
    if (roll < 0.15 && h.upIds().length > 2 && h.isUp(id)) {
      h.kill(id);
    } else if (roll < 0.3 && !h.isUp(id)) {
      lives.set(id, (lives.get(id) ?? 0) + 1);
      h.restart(id).setLocalEpoch(localEpoch.get(id) ?? 0);
    } else if (roll < 0.4) {
      const shuffled = rnd.shuffled(h.ids);
      const cut = rnd.int(1, nodes - 1);
      h.partition(shuffled.slice(0, cut), shuffled.slice(cut));
    } else if (roll < 0.5) {
      h.isolate(id);
    } else if (roll < 0.6) {
      h.stall(id, rnd.int(500, 4_000));
    } else if (roll < 0.7) {
      h.loss = rnd.next() * 0.3;
    } else if (roll < 0.85 && h.isUp(id)) {
      const e = (localEpoch.get(id) ?? 0) + rnd.int(1, 3);
      localEpoch.set(id, e);
      h.gossip(id).setLocalEpoch(e);
    } else {
      h.heal();
      h.loss = 0;
    }
  }
  h.heal();
  h.loss = 0;
  // Healthy from here: detection of the stopped, dead-member exchange for healed partitions.
  const settled = h.runUntil(() => {
    const up = h.upIds();
    return up.every((o) => h.ids.every((m) => h.view(o, m) === (h.isUp(m) ? 'alive' : 'dead')));
  }, 90_000);
  check();
  if (settled === null) {
    const up = h.upIds();
    const wrong = up.flatMap((o) =>
      h.ids
        .filter((m) => h.view(o, m) !== (h.isUp(m) ? 'alive' : 'dead'))
        .map((m) => `${o} sees ${m} ${h.view(o, m)} (up: ${h.isUp(m)})`),
    );
    violations.push(`did not settle: ${wrong.join('; ')}`);
  }
  h.runFor(15_000); // let the last epochs and incarnations spread
  for (const m of h.upIds()) {
    const own = h
      .gossip(m)
      .members()
      .find((v) => v.id === m)!;
    for (const o of h.upIds()) {
      const v = h
        .gossip(o)
        .members()
        .find((x) => x.id === m);
      if (v === undefined || v.incarnation !== own.incarnation || v.epoch !== own.epoch) {
        violations.push(
          `${o} disagrees about ${m}: ${JSON.stringify(v)} vs ${JSON.stringify(own)}`,
        );
      }
    }
  }
  return { violations, faults };
}

test('random fault schedules: views settle to the truth, epochs and incarnations never go back', () => {
  let faults = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const r = randomRun(seed, 6);
    expect(r.violations, `seed ${seed}`).toEqual([]);
    faults += r.faults;
  }
  expect(faults).toBeGreaterThan(12 * 20);
});

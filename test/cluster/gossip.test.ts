import { describe, expect, test } from 'vitest';
import {
  encodeRecord,
  GOSSIP_CHANNELS,
  type MemberRecord,
} from '../../src/cluster/gossip-messages.js';
import {
  DEFAULT_GOSSIP_TIMING,
  type GossipBug,
  suspicionBounds,
} from '../../src/cluster/gossip-options.js';
import { GossipHarness } from './gossip-harness.js';

/**
 * Gossip in a deterministic in-memory world (gossip-harness.ts): failure detection, refutation,
 * loss tolerance, rejoin, partitions, epoch dissemination and local health, with the default
 * timings (probe every second) so the measured times are the ones production sees.
 */

const T = DEFAULT_GOSSIP_TIMING;

function record(
  id: string,
  liveness: MemberRecord['liveness'],
  incarnation: number,
  from = '',
): unknown {
  return encodeRecord({
    id,
    incarnation,
    liveness,
    epoch: 0,
    peerAddress: `${id}:9000`,
    httpAddress: `${id}:8000`,
    from,
  });
}

function formed(nodes: number, seed: number, bugs: GossipBug[] = []): GossipHarness {
  const h = new GossipHarness({ nodes, seed, bugs });
  h.startAll();
  expect(h.runUntil(() => h.converged(), 10_000)).not.toBeNull();
  return h;
}

describe('membership', () => {
  test('nodes that know only n1 learn every member and its addresses', () => {
    const h = new GossipHarness({ nodes: 6, seed: 11, seeds: 'first' });
    h.startAll();
    const took = h.runUntil(
      () => h.ids.every((o) => h.gossip(o).members().length === 6) && h.converged(),
      15_000,
    );
    expect(took).not.toBeNull();
    for (const o of h.ids) {
      for (const m of h.ids) {
        if (m === o) continue;
        expect(h.peersOf(o).get(m)).toBe(`${m}:9000`);
      }
      const views = h.gossip(o).members();
      expect(views.map((v) => v.id)).toEqual(h.ids.slice().sort());
      expect(views.every((v) => v.liveness === 'alive' && v.httpAddress === `${v.id}:8000`)).toBe(
        true,
      );
    }
  });

  test('a stopped node keeps its view; started again it resumes, suspicions included', () => {
    const h = formed(4, 15);
    h.isolate('n4');
    h.inject('n1', 'n2', GOSSIP_CHANNELS.updates, { u: [record('n4', 'suspect', 0, 'n2')] });
    const g = h.gossip('n1');
    g.stop();
    h.runFor(60_000);
    expect(g.liveness('n4')).toBe('suspect');
    g.start();
    expect(h.runUntil(() => h.allSee('n4', 'dead'), 30_000)).not.toBeNull();
    h.heal();
    expect(h.runUntil(() => h.converged(), 30_000)).not.toBeNull();
  });

  test('addresses: metadata updates them, a restart on new addresses spreads them by gossip', () => {
    const h = formed(4, 17);
    h.gossip('n1').addMember('n3', 'n3:9100', 'n3:8100');
    expect(h.peersOf('n1').get('n3')).toBe('n3:9100');
    expect(
      h
        .gossip('n1')
        .members()
        .find((m) => m.id === 'n3')!.httpAddress,
    ).toBe('n3:8100');
    // n4 restarts on new ports before anyone noticed it was gone; the others hold its old
    // addresses at the same incarnation, so it must outbid them.
    h.kill('n4');
    const g = h.restart('n4', 9200);
    const moved = () =>
      h.ids.every(
        (o) =>
          o === 'n4' ||
          (h.peersOf(o).get('n4') === 'n4:9200' &&
            h
              .gossip(o)
              .members()
              .find((m) => m.id === 'n4')!.httpAddress === 'n4:8200'),
      );
    expect(h.runUntil(moved, 5_000)).not.toBeNull();
    h.runFor(20_000);
    expect(moved()).toBe(true);
    expect(g.localIncarnation).toBe(1);
  });

  test('a removed member is forgotten and stale gossip does not bring it back', () => {
    const h = formed(4, 12);
    h.kill('n4');
    for (const id of ['n1', 'n2', 'n3']) h.gossip(id).removeMember('n4');
    h.inject('n1', 'n2', GOSSIP_CHANNELS.updates, { u: [record('n4', 'alive', 9)] });
    h.runFor(15_000);
    for (const id of ['n1', 'n2', 'n3']) {
      expect(
        h
          .gossip(id)
          .members()
          .map((m) => m.id),
      ).toEqual(['n1', 'n2', 'n3']);
      expect(h.gossip(id).liveness('n4')).toBe('dead');
    }
    // Metadata adding it back (a new join) lifts the tombstone.
    h.gossip('n1').addMember('n4', 'n4:9000', 'n4:8000');
    expect(h.gossip('n1').liveness('n4')).toBe('alive');
  });

  test('malformed and oversized messages are dropped and counted', () => {
    const h = formed(3, 13);
    const g = h.gossip('n1');
    const garbage: [string, unknown][] = [
      [GOSSIP_CHANNELS.ping, 'x'],
      [GOSSIP_CHANNELS.ping, { s: -1, t: 'n1', u: [] }],
      [GOSSIP_CHANNELS.ack, { s: 1, u: [['n2', 0, 7, 0, '', '', '']] }],
      [GOSSIP_CHANNELS.updates, { u: [['x'.repeat(200), 0, 0, 0, '', '', '']] }],
      [
        GOSSIP_CHANNELS.sync,
        { r: 1, m: Array.from({ length: 1025 }, () => record('n2', 'alive', 0)) },
      ],
      [GOSSIP_CHANNELS.pingReq, { s: 1, t: 'n2', w: 'soon', u: [] }],
      [GOSSIP_CHANNELS.nack, null],
    ];
    for (const [channel, payload] of garbage) h.inject('n1', 'n2', channel, payload);
    expect(g.stats.malformed).toBe(garbage.length);
    h.runFor(5_000);
    expect(h.converged()).toBe(true);
  });

  test('a burst of full-state requests (flushed from a transport queue) gets one answer', () => {
    const h = formed(3, 16);
    const before = h.sentBy('n1', GOSSIP_CHANNELS.sync);
    const state = { r: 1, m: [record('n2', 'alive', 0), record('n3', 'alive', 0)] };
    for (let i = 0; i < 100; i++) h.inject('n1', 'n2', GOSSIP_CHANNELS.sync, state);
    expect(h.sentBy('n1', GOSSIP_CHANNELS.sync) - before).toBe(1);
    expect(h.gossip('n1').stats.syncRepliesSkipped).toBe(99);
  });

  test('every message stays within the piggyback bound while 40 nodes form a cluster', () => {
    const h = new GossipHarness({ nodes: 40, seed: 14, seeds: 'first' });
    h.startAll();
    expect(h.runUntil(() => h.converged(), 30_000)).not.toBeNull();
    for (const channel of [GOSSIP_CHANNELS.ping, GOSSIP_CHANNELS.ack, GOSSIP_CHANNELS.updates]) {
      expect(h.maxRecords(channel)).toBeGreaterThan(1);
      expect(h.maxRecords(channel)).toBeLessThanOrEqual(16);
    }
    expect(h.maxRecords(GOSSIP_CHANNELS.sync)).toBe(40);
  });
});

describe('failure detection', () => {
  for (const nodes of [3, 5, 10]) {
    test(`a killed node in ${nodes} is suspected, then dead at every node, within the bound`, () => {
      const { minMs } = suspicionBounds(T, nodes);
      // Worst case: the last prober reaches it after a full round, then one probe interval,
      // then the suspicion timeout (shortened to the minimum by confirmations), plus gossip.
      const bound = (nodes - 1) * T.probeIntervalMs + T.probeIntervalMs + minMs + 2_000;
      for (let seed = 1; seed <= 4; seed++) {
        const h = formed(nodes, seed);
        const t0 = h.now;
        h.kill('n2');
        const suspected = h.runUntil(
          () => h.ids.some((o) => h.view(o, 'n2') === 'suspect'),
          10_000,
        );
        expect(suspected).not.toBeNull();
        expect(suspected!).toBeLessThanOrEqual((nodes - 1) * T.probeIntervalMs + T.probeIntervalMs);
        expect(h.runUntil(() => h.allSee('n2', 'dead'), bound)).not.toBeNull();
        expect(h.now - t0).toBeLessThanOrEqual(bound);
        // Nobody else was blamed.
        expect(h.eventsSince(t0).filter((e) => e.member !== 'n2')).toEqual([]);
        expect(h.gossip('n1').isAlive('n2')).toBe(false);
      }
    });
  }

  test('20% message loss for 120 probe rounds declares nobody dead', () => {
    for (const seed of [21, 22, 23]) {
      const h = new GossipHarness({ nodes: 8, seed, loss: 0.2 });
      h.startAll();
      h.runFor(120 * T.probeIntervalMs);
      expect(h.eventsSince(0, undefined, 'dead')).toEqual([]);
      // The loss did cause suspicions, which the suspects refuted in time.
      expect(h.eventsSince(0, undefined, 'suspect').length).toBeGreaterThan(10);
      const refutations = h.ids.reduce((s, id) => s + h.gossip(id).stats.refutations, 0);
      expect(refutations).toBeGreaterThan(0);
      h.loss = 0;
      expect(h.runUntil(() => h.converged(), 10_000)).not.toBeNull();
    }
  });
});

/**
 * A rumour that n3 is suspect reaches n1 while n3 is healthy; n3 must hear of it and refute
 * with a higher incarnation before any suspicion timer runs out.
 */
function refutationScenario(bugs: GossipBug[]): {
  suspected: boolean;
  sawDead: boolean;
  incarnation: number;
  viewsAgree: boolean;
} {
  const h = formed(5, 31, bugs);
  const t0 = h.now;
  h.inject('n1', 'n2', GOSSIP_CHANNELS.updates, { u: [record('n3', 'suspect', 0, 'n2')] });
  const suspected = h.view('n1', 'n3') === 'suspect';
  h.runFor(40_000);
  const incarnation = h.gossip('n3').localIncarnation;
  const viewsAgree = h.ids.every((o) =>
    h
      .gossip(o)
      .members()
      .every((v) => v.id !== 'n3' || v.incarnation === incarnation),
  );
  return {
    suspected,
    sawDead: h.eventsSince(t0, 'n3', 'dead').length > 0 || !h.allSee('n3', 'alive'),
    incarnation,
    viewsAgree,
  };
}

describe('suspicion and refutation', () => {
  test('a suspected but alive node refutes with a higher incarnation', () => {
    const r = refutationScenario([]);
    expect(r.suspected).toBe(true);
    expect(r.sawDead).toBe(false);
    expect(r.incarnation).toBe(1);
    expect(r.viewsAgree).toBe(true);
  });

  test('planted bug: a refutation that keeps its incarnation is caught', () => {
    const r = refutationScenario(['refute-same-incarnation']);
    expect(r.suspected).toBe(true);
    expect(r.sawDead).toBe(true);
  });

  test('a node cut off briefly is suspected, refutes once it hears, and is never declared dead', () => {
    const h = formed(5, 32);
    const t0 = h.now;
    h.isolate('n3');
    expect(
      h.runUntil(() => h.ids.some((o) => h.view(o, 'n3') === 'suspect'), 5_000),
    ).not.toBeNull();
    h.heal();
    expect(h.runUntil(() => h.allSee('n3', 'alive'), 5_000)).not.toBeNull();
    expect(h.eventsSince(t0, 'n3', 'dead')).toEqual([]);
    expect(h.gossip('n3').localIncarnation).toBeGreaterThanOrEqual(1);
  });

  test('a node holding an old suspicion is answered directly once retransmissions ran out', () => {
    // No full-state exchange in this run: only the direct answer can fix n1's view.
    const h = new GossipHarness({ nodes: 5, seed: 35, timing: { syncIntervalMs: 600_000 } });
    h.startAll();
    expect(h.runUntil(() => h.converged(), 10_000)).not.toBeNull();
    for (const id of h.ids) if (id !== 'n1') h.block(id, 'n1');
    // n3 refutes a rumour while n1 hears nothing; the refutation's retransmissions run out.
    h.inject('n3', 'n2', GOSSIP_CHANNELS.updates, { u: [record('n3', 'suspect', 0, 'n2')] });
    h.inject('n1', 'n2', GOSSIP_CHANNELS.updates, { u: [record('n3', 'suspect', 0, 'n2')] });
    h.runFor(3_000);
    expect(h.gossip('n3').localIncarnation).toBe(1);
    expect(h.view('n1', 'n3')).toBe('suspect');
    h.heal();
    for (const id of h.ids) if (id !== 'n1' && id !== 'n3') h.block(id, 'n1');
    // n1 pings n3 with the stale rumour; n3 answers with its current record.
    expect(h.runUntil(() => h.view('n1', 'n3') === 'alive', 6_000)).not.toBeNull();
  });

  /** n3 is cut off and suspected at n1; an old "alive" record about it must not clear that. */
  function staleAliveScenario(bugs: GossipBug[]): boolean {
    const h = formed(5, 33, bugs);
    h.isolate('n3');
    h.inject('n1', 'n2', GOSSIP_CHANNELS.updates, { u: [record('n3', 'suspect', 0, 'n2')] });
    h.inject('n1', 'n4', GOSSIP_CHANNELS.updates, { u: [record('n3', 'alive', 0)] });
    return h.view('n1', 'n3') === 'suspect';
  }

  test('an alive record of the suspected incarnation does not clear the suspicion', () => {
    expect(staleAliveScenario([])).toBe(true);
  });

  test('planted bug: accepting a stale alive record is caught', () => {
    expect(staleAliveScenario(['accept-stale-alive'])).toBe(false);
  });

  test('independent confirmations bring a suspicion down from its maximum to its minimum', () => {
    // 10 nodes expect 2 confirmations; without them n1 would wait the maximum.
    const bounds = suspicionBounds(T, 10);
    expect(bounds.expected).toBe(2);
    const h = formed(10, 34);
    h.isolate('n3');
    const t0 = h.now;
    h.inject('n1', 'n9', GOSSIP_CHANNELS.updates, { u: [record('n3', 'suspect', 0, 'n9')] });
    expect(h.runUntil(() => h.view('n1', 'n3') === 'dead', 60_000)).not.toBeNull();
    const took = h.now - t0;
    expect(took).toBeLessThan(bounds.maxMs / 2);
    expect(took).toBeGreaterThanOrEqual(bounds.minMs);
  });
});

describe('rejoin and partitions', () => {
  test('a node that leaves cleanly is dead everywhere at once, and a restart brings it back', () => {
    const h = formed(5, 40);
    h.gossip('n5').leave();
    expect(h.runUntil(() => h.allSee('n5', 'dead', ['n1', 'n2', 'n3', 'n4']), 100)).not.toBeNull();
    h.kill('n5');
    h.runFor(10_000);
    expect(h.eventsSince(0, undefined, 'suspect')).toEqual([]);
    const g = h.restart('n5');
    expect(h.runUntil(() => h.converged(), 5_000)).not.toBeNull();
    expect(g.localIncarnation).toBe(1);
  });

  test('a node restarted after being declared dead comes back alive everywhere', () => {
    const h = formed(5, 41);
    h.kill('n4');
    expect(h.runUntil(() => h.allSee('n4', 'dead'), 15_000)).not.toBeNull();
    const deadIncarnation = h
      .gossip('n1')
      .members()
      .find((m) => m.id === 'n4')!.incarnation;
    h.runFor(5_000);
    const t0 = h.now;
    const g = h.restart('n4');
    expect(h.runUntil(() => h.allSee('n4', 'alive') && h.converged(), 5_000)).not.toBeNull();
    expect(g.localIncarnation).toBeGreaterThan(deadIncarnation);
    expect(h.eventsSince(t0, 'n4', 'alive').length).toBe(4);
  });

  test('after a partition heals, the full-state exchange brings both sides back', () => {
    const h = formed(5, 42);
    h.partition(['n1', 'n2', 'n3'], ['n4', 'n5']);
    expect(
      h.runUntil(
        () => h.allSee('n4', 'dead', ['n1', 'n2', 'n3']) && h.allSee('n1', 'dead', ['n4', 'n5']),
        30_000,
      ),
    ).not.toBeNull();
    h.heal();
    // Nobody probes a dead member; the periodic exchange with one dead member reconnects them.
    const took = h.runUntil(() => h.converged(), 2 * T.syncIntervalMs);
    expect(took).not.toBeNull();
  });
});

describe('epochs', () => {
  function roundsToSpread(nodes: number, seed: number): number {
    const h = formed(nodes, seed);
    h.runFor(5_000); // let the formation gossip drain
    const seen: string[] = [];
    for (const id of h.ids) {
      h.gossip(id).onEpochSeen((member, epoch) => {
        if (member === 'n1' && epoch === 7) seen.push(id);
      });
    }
    h.gossip('n1').setLocalEpoch(7);
    const everyone = () =>
      h.ids.every(
        (o) =>
          h
            .gossip(o)
            .members()
            .find((m) => m.id === 'n1')!.epoch === 7,
      );
    const took = h.runUntil(everyone, 60_000);
    expect(took).not.toBeNull();
    expect(seen.sort()).toEqual(h.ids.filter((id) => id !== 'n1').sort());
    return Math.ceil(took! / T.gossipIntervalMs);
  }

  test('an epoch reaches every member within O(log n) gossip rounds', () => {
    for (const nodes of [8, 32, 64]) {
      const rounds = [1, 2, 3].map((seed) => roundsToSpread(nodes, seed)).sort((a, b) => a - b);
      // Epidemic spread with fanout 3: about log_3(n) rounds plus stragglers; the median run within log2(n).
      expect(rounds[1]).toBeLessThanOrEqual(Math.ceil(Math.log2(nodes)));
    }
  });

  test('epochs never go back', () => {
    const h = formed(3, 51);
    h.gossip('n1').setLocalEpoch(5);
    expect(() => h.gossip('n1').setLocalEpoch(4)).toThrow(/never go back/);
    h.inject('n2', 'n3', GOSSIP_CHANNELS.updates, { u: [record('n1', 'alive', 0)] });
    h.runFor(3_000);
    expect(
      h
        .gossip('n2')
        .members()
        .find((m) => m.id === 'n1')!.epoch,
    ).toBe(5);
  });
});

describe('local health (Lifeguard)', () => {
  test('a node that misses its acks raises its health score and probes more slowly', () => {
    const h = formed(5, 61);
    // n1 still sends, but nothing reaches it: its probes fail and no nacks arrive.
    for (const id of h.ids) if (id !== 'n1') h.block(id, 'n1');
    const p1 = h.sentBy('n1', GOSSIP_CHANNELS.ping);
    const p2 = h.sentBy('n2', GOSSIP_CHANNELS.ping);
    h.runFor(30_000);
    expect(h.gossip('n1').localHealth).toBe(T.awarenessMax - 1);
    expect(h.gossip('n2').localHealth).toBe(0);
    const slow = h.sentBy('n1', GOSSIP_CHANNELS.ping) - p1;
    const healthy = h.sentBy('n2', GOSSIP_CHANNELS.ping) - p2;
    expect(slow * 3).toBeLessThan(healthy);
    h.heal();
    expect(h.runUntil(() => h.gossip('n1').localHealth === 0, 120_000)).not.toBeNull();
    expect(h.runUntil(() => h.converged(), 30_000)).not.toBeNull();
  });

  test('timers that fire late (a starved event loop) raise the score', () => {
    const h = formed(4, 62);
    h.stall('n2', 3_000);
    h.runFor(3_100);
    expect(h.gossip('n2').stats.lateProbeTicks).toBeGreaterThanOrEqual(1);
    expect(h.gossip('n2').localHealth).toBeGreaterThanOrEqual(1);
    expect(h.gossip('n1').localHealth).toBe(0);
  });
});

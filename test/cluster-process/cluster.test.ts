import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenOf } from '../../src/cluster/ring.js';
import { canonicalSeriesKey } from '../../src/model/series.js';
import { SERVER_ENTRY, stopAllServers, tempDataDir } from '../helpers/server-process.js';
import {
  LocalCluster,
  postQuery,
  readRange,
  type StatusJson,
  waitFor,
  writeLines,
} from './local-cluster.js';

/**
 * Multi-process tests: real count-server processes on loopback, formed with DESIGN.md's
 * flags, driven over HTTP and countctl. At most four servers run at once. The suites share
 * one file so they run one after the other (each cluster is stopped before the next starts).
 */

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

function timestampsOf(body: unknown): number[] {
  return (body as { points: { timestamp: number }[] }).points.map((p) => p.timestamp);
}

describe('a 3-node cluster (RF=3) formed with the DESIGN.md flags', () => {
  const c = new LocalCluster();
  const t0 = Date.now() - 3_600_000;

  beforeAll(async () => {
    await c.bootstrap('n1', 3);
    // Started together: one join is staged at a time, the other waits its turn.
    await Promise.all([c.join('n2', 'n1'), c.join('n3', 'n1')]);
    await c.waitForMembers(['n1', 'n2', 'n3']);
  }, 120_000);
  afterAll(stopAllServers, 60_000);

  it('countctl status: three normal voters, alive, one leader, the same epoch on every node', async () => {
    const views = await Promise.all(['n1', 'n2', 'n3'].map((id) => c.status(c.url(id))));
    for (const s of views) {
      expect(s.members.map((m) => [m.id, m.state, m.raft])).toEqual([
        ['n1', 'normal', 'voter'],
        ['n2', 'normal', 'voter'],
        ['n3', 'normal', 'voter'],
      ]);
      expect(s.epoch).toBe(views[0].epoch);
      expect(s.raft.leader).toBe(views[0].raft.leader);
    }
    await waitFor(
      async () => (await c.status()).members.every((m) => m.liveness === 'alive'),
      20_000,
      'every member alive',
    );
    const ring = (await (await fetch(`${c.url('n2')}/admin/cluster/ring`)).json()) as {
      rf: number;
      ranges: { replicas: string[] }[];
    };
    expect(ring.rf).toBe(3);
    expect(ring.ranges.length).toBe(48);
    for (const r of ring.ranges) expect([...r.replicas].sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('with one node killed: one and quorum succeed, all is 503 consistency_unavailable naming the acks; status shows it down', async () => {
    await c.kill('n3');
    const killedAt = Date.now();
    const one = await writeLines(
      c.url('n1'),
      `hint,s=a v=1 ${t0 + 1}\nhint,s=b v=1 ${t0 + 1}`,
      'one',
    );
    expect(one.status).toBe(204);
    const quorum = await writeLines(c.url('n2'), `hint,s=a v=2 ${t0 + 2}\nhint,s=b v=2 ${t0 + 2}`);
    expect(quorum.status).toBe(204);
    const all = await writeLines(c.url('n1'), `hint,s=a v=3 ${t0 + 3}`, 'all');
    expect(all.status).toBe(503);
    const e = (all.body as ErrorBody).error;
    expect(e.code).toBe('consistency_unavailable');
    expect(e.message).toContain('2 answered');
    expect(e.details).toMatchObject({ consistency: 'all', acknowledged: 2, required: 3 });
    // A read at all cannot be met either; at quorum it can.
    expect((await readRange(c.url('n1'), 'hint.v{s="a"}', 'all')).status).toBe(503);
    const q = await readRange(c.url('n2'), 'hint.v{s="a"}', 'quorum');
    expect(q.status).toBe(200);
    expect(timestampsOf(q.body)).toEqual(expect.arrayContaining([t0 + 1, t0 + 2]));

    await waitFor(
      async () =>
        (await c.status(c.url('n1'))).members.find((m) => m.id === 'n3')?.liveness === 'dead',
      30_000,
      'countctl status to show n3 dead',
    );
    // SWIM with a 1 s probe and a 4 s minimum suspicion on 3 nodes: well under 30 s.
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    const human = await c.countctl(['status'], c.url('n2'));
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/n3\s+normal\s+(dead|suspect)/);
  }, 60_000);

  it('the killed node restarted from its data dir gets its hints (its own data at one matches)', async () => {
    // More writes while it is down, at quorum, through both survivors.
    for (let i = 4; i < 20; i++) {
      const r = await writeLines(c.url(i % 2 === 0 ? 'n1' : 'n2'), `hint,s=a v=${i} ${t0 + i}`);
      expect(r.status).toBe(204);
    }
    // Read before the restart, so no read repair can reach n3: only hints can.
    const expected = await readRange(c.url('n1'), 'hint.v{s="a"}', 'quorum');
    await c.restart('n3');
    const want = timestampsOf(expected.body);
    // The write refused at all still reached two replicas (a 503 is not a rollback).
    expect(want).toEqual(expect.arrayContaining([t0 + 1, t0 + 2, t0 + 4, t0 + 19]));
    expect(want.length).toBeGreaterThanOrEqual(18);
    await waitFor(
      async () => {
        const local = await readRange(c.url('n3'), 'hint.v{s="a"}', 'one');
        return local.status === 200 && timestampsOf(local.body).length === want.length;
      },
      45_000,
      'n3 to hold the points written while it was down',
    );
    const local = await readRange(c.url('n3'), 'hint.v{s="a"}', 'one');
    expect(local.body).toEqual(expected.body);
    const other = await readRange(c.url('n3'), 'hint.v{s="b"}', 'one');
    expect(timestampsOf(other.body)).toEqual([t0 + 1, t0 + 2]);
    const metrics =
      (await (await fetch(`${c.url('n1')}/metrics`)).text()) +
      (await (await fetch(`${c.url('n2')}/metrics`)).text());
    const replayed = [...metrics.matchAll(/^count_hints_replayed_total\{[^}]*\} (\d+)/gm)].map(
      (m) => Number(m[1]),
    );
    expect(replayed.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    await waitFor(
      async () => (await c.status(c.url('n3'))).members.every((m) => m.liveness === 'alive'),
      20_000,
      'n3 alive again everywhere',
    );
  }, 90_000);

  it('SIGTERM leaves gossip cleanly: exit 0, peers see it down at once, a restart rejoins', async () => {
    expect(await c.stop('n2')).toBe(0);
    const exitedAt = Date.now();
    // Polled over HTTP (the route countctl status uses), so the poll itself costs ~ms.
    await waitFor(
      async () => {
        const r = await fetch(`${c.url('n1')}/admin/cluster/status`);
        const s = (await r.json()) as StatusJson;
        return s.members.find((m) => m.id === 'n2')?.liveness === 'dead';
      },
      10_000,
      'n1 to see n2 dead',
    );
    // The goodbye makes it immediate; a silent node takes a probe, its timeout and at least
    // 4 s of suspicion (>= 4.5 s) to be declared dead.
    expect(Date.now() - exitedAt).toBeLessThan(4_000);
    await c.restart('n2');
    await waitFor(
      async () =>
        (await c.status(c.url('n1'))).members.find((m) => m.id === 'n2')?.liveness === 'alive',
      20_000,
      'n2 alive again',
    );
    expect((await writeLines(c.url('n2'), `hint,s=c v=1 ${t0 + 1}`, 'all')).status).toBe(204);
  }, 60_000);

  it('a new disk claiming a live member id is refused with a clear message', async () => {
    const child = spawn(
      process.execPath,
      [
        SERVER_ENTRY,
        ...['--node-id', 'n3', '--bind', '127.0.0.1:0', '--peer-bind', '127.0.0.1:0'],
        ...['--data-dir', tempDataDir(), '--seeds', `127.0.0.1:${c.member('n1').peerPort}`],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const code = await new Promise((res) => child.once('exit', res));
    expect(code).toBe(1);
    expect(stderr).toContain('countctl remove n3');
  }, 30_000);

  it('join and decommission of a fourth node while a writer runs lose no acknowledged write', async () => {
    const acked = new Map<string, number[]>();
    let stop = false;
    let refused = 0;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const key = `load,w=${w},s=${i % 16} v=${i}`;
        const ts = t0 + 1000 + i;
        const series = `load.v{s="${i % 16}",w="${w}"}`;
        const node = ['n1', 'n2', 'n3'][i % 3];
        const r = await writeLines(c.url(node), `${key} ${ts}`).catch(() => null);
        if (r?.status === 204) {
          const list = acked.get(series) ?? [];
          list.push(ts);
          acked.set(series, list);
        } else refused++;
      }
    };
    const writers = [writer(0), writer(1)];
    const count = () => [...acked.values()].reduce((a, l) => a + l.length, 0);
    await waitFor(() => count() > 50, 20_000, 'the writers to get going');
    await c.join('n4', 'n1');
    await c.waitForMembers(['n1', 'n2', 'n3', 'n4'], 90_000);
    const afterJoin = count();
    const ring = (await (await fetch(`${c.url('n4')}/admin/cluster/ring`)).json()) as {
      ranges: { replicas: string[] }[];
    };
    expect(ring.ranges.some((r) => r.replicas.includes('n4'))).toBe(true);
    await waitFor(() => count() > afterJoin + 50, 20_000, 'writes after the join');

    const decommission = await c.countctl(['decommission', 'n4'], c.url('n2'));
    expect(decommission.code, decommission.stderr).toBe(0);
    // A node that left is no longer listed as a member.
    await waitFor(
      async () => !(await c.status(c.url('n1'))).members.some((m) => m.id === 'n4'),
      60_000,
      'n4 gone from the members',
    );
    const afterLeave = count();
    await waitFor(() => count() > afterLeave + 50, 20_000, 'writes after the decommission');
    stop = true;
    await Promise.all(writers);
    await c.kill('n4');

    // Every acknowledged point is read back at quorum from the three remaining owners.
    let checked = 0;
    for (const [series, want] of acked) {
      const r = await readRange(c.url('n1'), series, 'quorum');
      expect(r.status, series).toBe(200);
      const have = new Set(timestampsOf(r.body));
      const lost = want.filter((t) => !have.has(t));
      expect(lost, `${series}: acknowledged points lost`).toEqual([]);
      checked += want.length;
    }
    expect(checked).toBeGreaterThan(150);
    // Refusals (503 during a step, 429) are allowed; they were not acknowledged.
    expect(refused).toBeLessThan(checked);
  }, 200_000);
});

describe('a 3-node cluster with RF=1 and one node down', () => {
  const c = new LocalCluster();
  const t0 = Date.now() - 3_600_000;
  const SERIES = 64;

  beforeAll(async () => {
    await c.bootstrap('p1', 1);
    await c.join('p2', 'p1');
    await c.join('p3', 'p1');
    await c.waitForMembers(['p1', 'p2', 'p3']);
  }, 120_000);
  afterAll(stopAllServers, 60_000);

  it('a query is partial and names the ranges of the down node; partial=deny is 503', async () => {
    const lines = Array.from({ length: SERIES }, (_, s) => `part,s=${s} v=${s} ${t0}`).join('\n');
    expect((await writeLines(c.url('p1'), lines)).status).toBe(204);
    const ring = (await (await fetch(`${c.url('p1')}/admin/cluster/ring`)).json()) as {
      ranges: { start: string; end: string; replicas: string[] }[];
    };
    const full = await postQuery(c.url('p1'), { select: 'part.v', start: 0, end: t0 + 1 });
    expect(full.status).toBe(200);
    expect((full.body as { results: unknown[]; partial: boolean }).partial).toBe(false);
    expect((full.body as { results: unknown[] }).results.length).toBe(SERIES);

    await c.kill('p2');
    const downRanges = ring.ranges.filter((r) => r.replicas.includes('p2'));
    const inDown = (token: string) =>
      downRanges.some((r) =>
        r.start < r.end ? token > r.start && token <= r.end : token > r.start || token <= r.end,
      );
    const ownedByDown = Array.from({ length: SERIES }, (_, s) =>
      canonicalSeriesKey(`part.v{s="${s}"}`),
    ).filter((k) => inDown(tokenOf(k)));
    expect(ownedByDown.length).toBeGreaterThan(0);

    const partial = await postQuery(c.url('p1'), { select: 'part.v', start: 0, end: t0 + 1 });
    expect(partial.status).toBe(200);
    const body = partial.body as {
      results: { series: string }[];
      partial: boolean;
      missing: string[];
      warnings: string[];
    };
    expect(body.partial).toBe(true);
    expect([...body.missing].sort()).toEqual(downRanges.map((r) => `${r.start}..${r.end}`).sort());
    expect(body.warnings.length).toBeGreaterThan(0);
    expect(body.results.length).toBe(SERIES - ownedByDown.length);
    for (const r of body.results) expect(ownedByDown).not.toContain(r.series);

    const deny = await postQuery(
      c.url('p3'),
      { select: 'part.v', start: 0, end: t0 + 1 },
      '?partial=deny',
    );
    expect(deny.status).toBe(503);
    expect((deny.body as ErrorBody).error.code).toBe('partial_result');
  }, 60_000);
});

import { type AddressInfo, createServer } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CountctlIo, progressBar, runCountctl } from '../../src/cli/countctl.js';
import { registerAdminRoutes } from '../../src/server/admin-routes.js';
import { MetaCluster } from '../cluster/meta-harness.js';

/**
 * countctl against the real admin routes over HTTP, served by node n2 (a follower, so changes
 * are forwarded to the metadata leader) of a 3-node metadata cluster on virtual time that a
 * background loop keeps advancing.
 */
let cluster: MetaCluster;
let app: FastifyInstance;
let url = '';
let pumping = true;
let pump: Promise<void> = Promise.resolve();
let holdStreams = false;
const releaseStreams: (() => void)[] = [];

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function runCountctlAt(
  servers: string,
  ...argv: string[]
): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await runCountctl(['--server', servers, ...argv], {
    out: () => {},
    err: (t) => {
      err += t;
    },
    tty: false,
    sleep: async () => {},
  });
  return { code, err };
}

async function ctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CountctlIo = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    tty: false,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
  };
  const code = await runCountctl(['--server', url, ...argv], io);
  return { code, out, err };
}

beforeAll(async () => {
  cluster = new MetaCluster({
    stream: async () => {
      if (holdStreams) {
        await new Promise<void>((r) => {
          releaseStreams.push(r);
        });
      }
      return { series: 3, points: 30 };
    },
  });
  const c = cluster;
  const n1 = await c.bootstrap('n1');
  await c.waitFor(() => n1.metadata.isLeader());
  for (const id of ['n2', 'n3', 'n4']) {
    await c.join(id, 'n1');
    await c.waitFor(() => n1.metadata.state().operation === null);
  }
  await c.waitFor(() => n1.metadata.raftStatus().voters.length === 3);
  pump = (async () => {
    while (pumping) {
      await c.clock.advance(20);
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const n2 = c.get('n2');
  app = Fastify();
  await registerAdminRoutes(app, {
    nodeId: 'n2',
    metadata: n2.metadata,
    service: n2.service,
    gossip: {
      members: () => [
        { id: 'n1', liveness: 'alive', epoch: n2.metadata.epoch() },
        { id: 'n3', liveness: 'suspect', epoch: 1 },
      ],
    },
    repair: async () => ({ slots: 2, entries: 5, pulled: 40, pushed: 7 }),
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  pumping = false;
  await pump;
  await app?.close();
  await cluster?.stopAll();
});

describe('countctl', () => {
  it('status shows members, states, liveness, Raft leader, term and epoch', async () => {
    const j = await ctl('--json', 'status');
    expect(j.code).toBe(0);
    const s = JSON.parse(j.out);
    expect(s.node).toBe('n2');
    expect(s.raft.leader).toBe('n1');
    expect(s.members.map((m: { id: string }) => m.id)).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(s.members.map((m: { liveness: string }) => m.liveness)).toEqual([
      'alive',
      'alive',
      'suspect',
      'unknown',
    ]);
    expect(s.members.map((m: { raft: string }) => m.raft)).toEqual([
      'voter',
      'voter',
      'voter',
      'learner',
    ]);
    const t = await ctl('status');
    expect(t.code).toBe(0);
    expect(t.out).toContain(`epoch ${s.epoch}`);
    expect(t.out).toContain('raft leader n1');
    expect(t.out).toMatch(/n3\s+normal\s+suspect\s+voter\s+16/);
    expect(t.out).toContain('last operation');
    const m = await ctl('members');
    expect(m.out.split('\n')[0]).toMatch(/^ID\s+STATE\s+LIVENESS\s+RAFT/);
    expect(m.out.trim().split('\n').length).toBe(5);
  });

  it('ring lists ranges covering the ring with their replicas', async () => {
    const j = await ctl('--json', 'ring');
    const r = JSON.parse(j.out);
    expect(r.rf).toBe(3);
    expect(r.ranges.length).toBe(64);
    for (const x of r.ranges) expect(new Set(x.replicas).size).toBe(3);
    const t = await ctl('ring');
    expect(t.out.trim().split('\n').length).toBe(2 + 64);
  });

  it('a conflicting operation is refused with the code and message; cancel undoes the first', async () => {
    holdStreams = true;
    const staged = await ctl('--json', 'remove', 'n4', '--no-wait');
    expect(staged.code).toBe(0);
    const opId = JSON.parse(staged.out).opId;
    expect(typeof opId).toBe('number');
    const conflict = await ctl('decommission', 'n1');
    expect(conflict.code).toBe(1);
    expect(conflict.err).toMatch(/^error: conflict: remove of n4 .* in flight/);
    const status = await ctl('status');
    expect(status.out).toMatch(/operation \d+: remove of n4/);
    holdStreams = false;
    const cancelled = await ctl('cancel');
    expect(cancelled.err).toBe('');
    expect(cancelled.code).toBe(0);
    expect(cancelled.out).toContain(`cancelled operation ${opId}`);
    for (const r of releaseStreams.splice(0)) r();
    expect(cluster.get('n1').metadata.state().nodes.n4.state).toBe('normal');
    const none = await ctl('cancel');
    expect(none.code).toBe(1);
    expect(none.err).toContain('error: conflict: no operation is in flight');
  });

  it('decommission waits with progress until the operation finished', async () => {
    const r = await ctl('decommission', 'n4');
    expect(r.code).toBe(0);
    // Progress goes to stderr (one line per change when stderr is not a terminal).
    expect(r.err).toMatch(/^decommission n4: [a-z-]+ \[[#.]+\] \d+\/\d+$/m);
    expect(r.out).toMatch(/decommission n4: finished at epoch \d+/);
    expect(cluster.get('n1').metadata.state().nodes.n4.state).toBe('left');
    // A node that left sends countctl on to the next server.
    const n4 = cluster.get('n4');
    await cluster.waitFor(() => n4.metadata.state().nodes.n4.state === 'left');
    const leftApp = Fastify();
    await registerAdminRoutes(leftApp, {
      nodeId: 'n4',
      metadata: n4.metadata,
      service: n4.service,
      gossip: null,
    });
    const leftUrl = await leftApp.listen({ host: '127.0.0.1', port: 0 });
    try {
      const alone = await runCountctlAt(leftUrl, 'cancel');
      expect(alone.code).toBe(1);
      expect(alone.err).toContain('error: conflict: node n4 has left the cluster; ask a member');
      const next = await runCountctlAt(`${leftUrl},${url}`, 'cancel');
      expect(next.err).toContain('error: conflict: no operation is in flight');
    } finally {
      await leftApp.close();
    }
  });

  it('raft transfer-leader moves the metadata leadership', async () => {
    const r = await ctl('raft', 'transfer-leader', 'n3');
    expect(r.code).toBe(0);
    await cluster.waitFor(() => cluster.get('n3').metadata.isLeader(), 60_000);
    const s = JSON.parse((await ctl('--json', 'status')).out);
    expect(s.raft.leader).toBe('n3');
    const bad = await ctl('raft', 'transfer-leader', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('not_found');
  });

  it('says clearly when no node answers, and tries the next server', async () => {
    const run = async (servers: string, ...argv: string[]) => {
      let err = '';
      const code = await runCountctl(['--server', servers, ...argv], {
        out: () => {},
        err: (t) => {
          err += t;
        },
        tty: false,
        sleep: async () => {},
      });
      return { code, err };
    };
    const [a, b] = [await closedPort(), await closedPort()];
    const none = await run(`http://127.0.0.1:${a},127.0.0.1:${b}`, 'status');
    expect(none.code).toBe(2);
    expect(none.err).toBe(
      `error: no node answered: http://127.0.0.1:${a} (ECONNREFUSED); http://127.0.0.1:${b} (ECONNREFUSED)\n`,
    );
    const next = await run(`http://127.0.0.1:${a},${url}`, '--json', 'status');
    expect(next).toEqual({ code: 0, err: '' });
  });

  it('repair runs anti-entropy on the node and says what it repaired', async () => {
    const text = await ctl('repair');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(
      /^repair on n2: 2 differing slot\(s\), 5 .* 40 point\(s\) pulled, 7 pushed/,
    );
    const json = await ctl('--json', 'repair');
    expect(JSON.parse(json.out)).toEqual({
      node: 'n2',
      slots: 2,
      entries: 5,
      pulled: 40,
      pushed: 7,
    });
  });

  it('bad usage exits with 3', async () => {
    expect((await ctl('frobnicate')).code).toBe(3);
    expect((await ctl('decommission')).code).toBe(3);
  });

  it('draws a progress bar', () => {
    expect(progressBar(3, 12, 12)).toBe('[###.........] 3/12');
    expect(progressBar(0, 0, 4)).toBe('[....] 0/0');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../raft/types.js';
import { CountError } from '../../src/model/errors.js';
import { PeerError, PeerTransport } from '../../src/net/peer-transport.js';
import { isRaftMessage, RaftPeerTransport } from '../../src/net/raft-transport.js';

const open: PeerTransport[] = [];

async function node(
  id: string,
  peers: Record<string, string> = {},
  extra = {},
): Promise<PeerTransport> {
  const t = await PeerTransport.listen({
    nodeId: id,
    host: '127.0.0.1',
    port: 0,
    peers,
    reconnectMinMs: 10,
    reconnectMaxMs: 50,
    ...extra,
  });
  open.push(t);
  return t;
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('PeerTransport', () => {
  it('carries messages both ways over one connection, and requests with answers', async () => {
    const b = await node('b');
    const a = await node('a', { b: `127.0.0.1:${b.port}` });
    b.addPeer('a', `127.0.0.1:${a.port}`);
    const gotByB: unknown[] = [];
    const gotByA: unknown[] = [];
    b.on('ch', (from, p) => gotByB.push([from, p]));
    a.on('ch', (from, p) => gotByA.push([from, p]));
    b.on('echo', async (_from, p) => ({ echoed: p }));
    a.send('b', 'ch', { n: 1, bytes: new Uint8Array([1, 2, 3]) });
    await waitFor(() => gotByB.length === 1);
    // b never dials (its id is larger): its message rides a's connection.
    b.send('a', 'ch', 'hi');
    await waitFor(() => gotByA.length === 1);
    expect(gotByA).toEqual([['b', 'hi']]);
    expect(Array.from((gotByB[0] as [string, { bytes: Uint8Array }])[1].bytes)).toEqual([1, 2, 3]);
    expect(await a.request('b', 'echo', 42)).toEqual({ echoed: 42 });
    expect(a.isConnected('b') && b.isConnected('a')).toBe(true);
  });

  it('rejects requests past their deadline, to unknown peers, and on remote errors', async () => {
    const b = await node('b');
    const a = await node('a', { b: `127.0.0.1:${b.port}` });
    b.on('slow', () => new Promise(() => {}));
    b.on('fail', () => {
      throw new Error('nope');
    });
    await expect(a.request('b', 'slow', null, 50)).rejects.toMatchObject({ code: 'timeout' });
    await expect(a.request('b', 'fail', null)).rejects.toMatchObject({
      code: 'remote',
      message: 'nope',
    });
    await expect(a.request('zz', 'x', null)).rejects.toBeInstanceOf(PeerError);
  });

  it('a CountError thrown by a handler reaches the caller with its code and details', async () => {
    const b = await node('b');
    const a = await node('a', { b: `127.0.0.1:${b.port}` });
    b.on('stale', async () => {
      throw new CountError('stale_epoch', 'replica is at epoch 9', { details: { epoch: 9 } });
    });
    const err = await a.request('b', 'stale', null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CountError);
    expect(err).toMatchObject({
      code: 'stale_epoch',
      message: 'replica is at epoch 9',
      details: { epoch: 9 },
    });
  });

  it('queues while disconnected (bounded, oldest dropped) and reconnects after a restart', async () => {
    const b1 = await node('b');
    const port = b1.port;
    const a = await node('a', { b: `127.0.0.1:${port}` }, { maxQueuedFrames: 3 });
    await waitFor(() => a.isConnected('b'));
    await b1.close();
    await waitFor(() => !a.isConnected('b'));
    for (let i = 0; i < 5; i++) a.send('b', 'ch', i);
    expect(a.stats.dropped).toBe(2);
    const b2 = await node('b', {}, { port });
    const got: unknown[] = [];
    b2.on('ch', (_f, p) => got.push(p));
    await waitFor(() => got.length === 3);
    expect(got).toEqual([2, 3, 4]);
    expect(a.stats.reconnects).toBeGreaterThan(0);
  });

  it('the dialer of a pair redials after the peer reached it by address and hung up', async () => {
    const a = await node('a');
    const z = await node('z');
    // z knows only a's address: a placeholder id that sorts after every real id makes z dial.
    z.addPeer('~seed', `127.0.0.1:${a.port}`);
    a.on('hello', (from) => {
      a.addPeer(from, `127.0.0.1:${z.port}`);
      return 'welcome';
    });
    expect(await z.request('~seed', 'hello', null)).toBe('welcome');
    z.removePeer('~seed');
    const got: unknown[] = [];
    z.on('ch', (from, p) => got.push([from, p]));
    await waitFor(() => !a.isConnected('z'));
    a.send('z', 'ch', 'after');
    await waitFor(() => got.length === 1);
    expect(got).toEqual([['a', 'after']]);
  });

  it('RaftPeerTransport delivers only well-formed messages from their real sender', async () => {
    const b = await node('b');
    const a = await node('a', { b: `127.0.0.1:${b.port}` });
    const got: Message[] = [];
    new RaftPeerTransport(b).listen((m) => got.push(m));
    const ra = new RaftPeerTransport(a);
    const m: Message = { type: 'heartbeat', from: 'a', to: 'b', term: 3, commit: 7, ctx: null };
    ra.send(m);
    a.send('b', 'raft', { ...m, from: 'c' });
    a.send('b', 'raft', { type: 'bogus', from: 'a', to: 'b', term: 1 });
    ra.send({ ...m, commit: 8 });
    await waitFor(() => got.length === 2);
    expect(got.map((x) => (x as { commit: number }).commit)).toEqual([7, 8]);
    expect(isRaftMessage({ type: 'vote', from: 'a', to: 'b', term: -1 })).toBe(false);
  });
});

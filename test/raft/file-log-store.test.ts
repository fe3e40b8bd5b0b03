import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bootstrapSnapshot } from '../../raft/bootstrap.js';
import { isRaftError } from '../../raft/errors.js';
import { FileLogStore } from '../../raft/file-log-store.js';
import { MemoryLogStore } from '../../raft/memory-log-store.js';
import type { Entry, HardState, RaftFile, RaftFs, Snapshot } from '../../raft/types.js';
import { NodeVfs } from '../../src/env/node-vfs.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

const OPTS = { segmentBytes: 600 };

function entry(index: number, term: number, text = `e${index}`): Entry {
  return {
    index,
    term,
    type: index % 7 === 0 ? 'conf' : 'normal',
    data: new TextEncoder().encode(text),
  };
}

function range(lo: number, hi: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(entry(i, term));
  return out;
}

function snapshotAt(
  store: { term(i: number): number | null },
  index: number,
  text: string,
): Snapshot {
  return {
    meta: { index, term: store.term(index)!, conf: { voters: ['a', 'b'], learners: [] } },
    data: new TextEncoder().encode(text),
  };
}

/** The log a store holds: snapshot point, hard state and entries. */
function contents(s: FileLogStore | MemoryLogStore) {
  const snap = s.snapshot();
  return {
    snapshot: { index: snap.meta.index, term: snap.meta.term, data: Array.from(snap.data) },
    term: s.initialState().hardState.term,
    vote: s.initialState().hardState.vote,
    entries: s
      .entries(s.firstIndex(), s.lastIndex() + 1, Infinity)
      .map((e) => [e.index, e.term, e.type, Array.from(e.data)]),
  };
}

async function fresh(vfs: MemoryVfs): Promise<FileLogStore> {
  const store = await FileLogStore.open(vfs.view(), 'raft', OPTS);
  await store.save({
    hardState: null,
    entries: [],
    snapshot: bootstrapSnapshot(['a', 'b'], new Uint8Array([1, 2])),
  });
  return store;
}

describe('FileLogStore', () => {
  it('survives a restart with entries, hard state and bootstrap snapshot', async () => {
    const vfs = new MemoryVfs();
    const s = await fresh(vfs);
    await s.save({
      hardState: { term: 2, vote: 'a', commit: 3 },
      entries: range(2, 5, 2),
      snapshot: null,
    });
    const before = contents(s);
    vfs.crash({ tear: true });
    const r = await FileLogStore.open(vfs.view(), 'raft', OPTS);
    expect(contents(r)).toEqual(before);
    expect(r.initialState().conf).toEqual({ voters: ['a', 'b'], learners: [] });
  });

  it('fsyncs before acknowledging: a crash right after save keeps it', async () => {
    const vfs = new MemoryVfs();
    const s = await fresh(vfs);
    const syncsBefore = vfs.counters.fileSyncs;
    await s.save({
      hardState: { term: 3, vote: 'b', commit: 1 },
      entries: [entry(2, 3)],
      snapshot: null,
    });
    expect(vfs.counters.fileSyncs).toBe(syncsBefore + 1);
    // Only the commit index moved: no fsync.
    await s.save({ hardState: { term: 3, vote: 'b', commit: 2 }, entries: [], snapshot: null });
    expect(vfs.counters.fileSyncs).toBe(syncsBefore + 1);
    vfs.crash();
    const r = await FileLogStore.open(vfs.view(), 'raft', OPTS);
    expect(r.initialState().hardState).toMatchObject({ term: 3, vote: 'b' });
    expect(r.lastIndex()).toBe(2);
  });

  it('with syncHardState false (the no-vote-fsync bug) a vote is lost in a crash', async () => {
    const vfs = new MemoryVfs();
    const s = await fresh(vfs);
    await s.save(
      { hardState: { term: 4, vote: 'b', commit: 1 }, entries: [], snapshot: null },
      { syncHardState: false },
    );
    expect(s.initialState().hardState.vote).toBe('b');
    vfs.crash();
    const r = await FileLogStore.open(vfs.view(), 'raft', OPTS);
    expect(r.initialState().hardState.vote).toBe(null);
  });

  it('cuts a torn tail off the last segment', async () => {
    const vfs = new MemoryVfs();
    const s = await fresh(vfs);
    await s.save({
      hardState: { term: 2, vote: null, commit: 1 },
      entries: range(2, 4, 2),
      snapshot: null,
    });
    // A write the process never saw finish: half a record, unsynced, torn by the crash.
    const names = await vfs.list('raft/log');
    const f = await vfs.open(`raft/log/${names[names.length - 1]}`, 'append');
    await f.append(new Uint8Array([200, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9, 9]));
    await f.sync();
    vfs.crash({ tear: true });
    const r = await FileLogStore.open(vfs.view(), 'raft', OPTS);
    expect(r.lastIndex()).toBe(4);
    await r.save({ hardState: null, entries: [entry(5, 2)], snapshot: null });
    vfs.crash();
    expect((await FileLogStore.open(vfs.view(), 'raft', OPTS)).lastIndex()).toBe(5);
  });

  it('refuses a log damaged before its last segment', async () => {
    const vfs = new MemoryVfs();
    const s = await fresh(vfs);
    for (let i = 2; i < 40; i++)
      await s.save({ hardState: null, entries: [entry(i, 2, 'x'.repeat(40))], snapshot: null });
    const names = await vfs.list('raft/log');
    expect(names.length).toBeGreaterThan(2);
    await vfs.truncate(`raft/log/${names[0]}`, 30);
    await expect(FileLogStore.open(vfs.view(), 'raft', OPTS)).rejects.toSatisfy(
      (e: unknown) => isRaftError(e) && e.code === 'corrupt_log',
    );
  });

  it('compaction drops old segments and keeps the log after the snapshot', async () => {
    const vfs = new MemoryVfs();
    const s = await fresh(vfs);
    for (let i = 2; i < 60; i++)
      await s.save({
        hardState: { term: 2, vote: null, commit: i },
        entries: [entry(i, 2, 'y'.repeat(30))],
        snapshot: null,
      });
    const segmentsBefore = s.segmentCount();
    await s.compact(snapshotAt(s, 50, 'state@50'));
    expect(s.segmentCount()).toBeLessThan(segmentsBefore);
    expect(s.firstIndex()).toBe(51);
    const before = contents(s);
    vfs.crash({ tear: true });
    const r = await FileLogStore.open(vfs.view(), 'raft', OPTS);
    expect(contents(r)).toEqual(before);
    expect(await vfs.list('raft/snap')).toHaveLength(1);
  });

  it('a leader snapshot replaces a divergent log, also when a crash cuts the install short', async () => {
    // Crash at every file operation of the install; the result is the old log or the new one.
    const outcomes = { old: 0, snapshotOnly: 0, finished: 0 };
    for (let crashAt = 0; crashAt < 30; crashAt++) {
      const vfs = new MemoryVfs();
      const s = await fresh(vfs);
      await s.save({
        hardState: { term: 3, vote: null, commit: 1 },
        entries: range(2, 12, 3),
        snapshot: null,
      });
      const oldLog = contents(s);
      const leaderSnap: Snapshot = {
        meta: { index: 8, term: 5, conf: { voters: ['a', 'b'], learners: [] } },
        data: new Uint8Array([8]),
      };
      const faulty = crashAfter(vfs, crashAt);
      const crashing = await FileLogStore.open(faulty.fs, 'raft', OPTS);
      faulty.arm();
      let finished = true;
      try {
        await crashing.save({
          hardState: { term: 5, vote: null, commit: 8 },
          entries: [entry(9, 5)],
          snapshot: leaderSnap,
        });
      } catch {
        finished = false;
      }
      vfs.crash({ tear: true });
      const r = await FileLogStore.open(vfs.view(), 'raft', OPTS);
      const got = contents(r);
      if (finished) {
        outcomes.finished++;
        expect(got.snapshot.index).toBe(8);
        expect(got.entries.map((e) => e[0])).toEqual([9]);
      } else if (got.snapshot.index === 8) {
        outcomes.snapshotOnly++;
        // The snapshot landed: the old entries after it follow another history and are gone.
        expect(got.entries.every((e) => e[1] === 5)).toBe(true);
      } else {
        outcomes.old++;
        expect(got).toEqual(oldLog);
      }
      if (finished) break;
    }
    expect(outcomes.finished).toBe(1);
    expect(outcomes.old).toBeGreaterThan(0);
    expect(outcomes.snapshotOnly).toBeGreaterThan(0);
  });

  it('matches a model under random saves, truncations, compactions and torn crashes', async () => {
    type Op =
      | { kind: 'append'; back: number; count: number; bumpTerm: boolean }
      | { kind: 'vote'; vote: string | null }
      | { kind: 'compact'; back: number }
      | { kind: 'crash' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant('append' as const),
          back: fc.nat(3),
          count: fc.integer({ min: 1, max: 6 }),
          bumpTerm: fc.boolean(),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('vote' as const),
          vote: fc.constantFrom('a', 'b', null),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(5) }),
      },
      { weight: 2, arbitrary: fc.constant({ kind: 'crash' as const }) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.integer(),
        async (ops, seed) => {
          const vfs = new MemoryVfs({ random: lcg(seed) });
          let store = await fresh(vfs);
          const model = new MemoryLogStore(store.snapshot());
          let hs: HardState = { term: 1, vote: null, commit: 1 };
          let commit = 1;
          for (const o of ops) {
            if (o.kind === 'append') {
              // Overwrite only above the commit point, as Raft does.
              const from = Math.max(commit + 1, model.lastIndex() + 1 - o.back);
              if (o.bumpTerm) hs = { ...hs, term: hs.term + 1, vote: null };
              const ents = range(from, from + o.count - 1, hs.term);
              commit = Math.min(from + o.count - 1, commit + 2);
              hs = { ...hs, commit };
              await store.save({ hardState: hs, entries: ents, snapshot: null });
              model.applyUpdate({ hardState: hs, entries: ents, snapshot: null });
            } else if (o.kind === 'vote') {
              hs = { ...hs, term: hs.term + 1, vote: o.vote };
              await store.save({ hardState: hs, entries: [], snapshot: null });
              model.applyUpdate({ hardState: hs, entries: [], snapshot: null });
            } else if (o.kind === 'compact') {
              const index = Math.max(model.firstIndex() - 1, commit - o.back);
              if (index > model.snapshot().meta.index) {
                const snap = snapshotAt(model, index, `s${index}`);
                await store.compact(snap);
                model.applyCompact(snap);
              }
            } else {
              vfs.crash({ tear: true });
              store = await FileLogStore.open(vfs.view(), 'raft', OPTS);
              const got = store.initialState().hardState;
              expect(got.commit).toBeLessThanOrEqual(commit);
              expect(got.commit).toBeGreaterThanOrEqual(model.snapshot().meta.index);
              commit = got.commit;
              hs = { ...hs, commit };
            }
            expect(contents(store)).toEqual(contents(model));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

/**
 * A RaftFs over a fresh view that, once armed, crashes the disk (torn) at its `n`th operation,
 * so that operation and everything after it fail as in a dead process.
 */
function crashAfter(vfs: MemoryVfs, n: number): { fs: RaftFs; arm(): void } {
  const view = vfs.view();
  let ops = -1;
  const tick = (): void => {
    if (ops < 0) return;
    if (ops++ === n) vfs.crash({ tear: true });
  };
  const wrapFile = (f: RaftFile): RaftFile => ({
    path: f.path,
    size: () => f.size(),
    append: async (d) => {
      tick();
      return f.append(d);
    },
    read: async (p, l) => {
      tick();
      return f.read(p, l);
    },
    sync: async () => {
      tick();
      return f.sync();
    },
    close: async () => {
      tick();
      return f.close();
    },
  });
  const fs: RaftFs = {
    open: async (p, m) => {
      tick();
      return wrapFile(await view.open(p, m));
    },
    readFile: async (p) => {
      tick();
      return view.readFile(p);
    },
    exists: async (p) => {
      tick();
      return view.exists(p);
    },
    list: async (p) => {
      tick();
      return view.list(p);
    },
    mkdir: async (p) => {
      tick();
      return view.mkdir(p);
    },
    rename: async (a, b) => {
      tick();
      return view.rename(a, b);
    },
    remove: async (p) => {
      tick();
      return view.remove(p);
    },
    truncate: async (p, s) => {
      tick();
      return view.truncate(p, s);
    },
    syncDir: async (p) => {
      tick();
      return view.syncDir(p);
    },
  };
  return {
    fs,
    arm: () => {
      ops = 0;
    },
  };
}

/** A small deterministic generator for the disk's tearing. */
function lcg(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x = (x * 1103515245 + 12345) | 0;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('FileLogStore on NodeVfs (real files, real fsync)', () => {
  it('NodeVfs serves as its RaftFs without an adapter', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'count-raft-store-'));
    try {
      const fs: RaftFs = new NodeVfs(dir);
      const s = await FileLogStore.open(fs, 'raft', OPTS);
      await s.save({
        hardState: null,
        entries: [],
        snapshot: bootstrapSnapshot(['a'], new Uint8Array(0)),
      });
      await s.save({
        hardState: { term: 2, vote: 'a', commit: 3 },
        entries: range(2, 30, 2),
        snapshot: null,
      });
      await s.compact(snapshotAt(s, 20, 'at20'));
      const before = contents(s);
      await s.close();
      const r = await FileLogStore.open(new NodeVfs(dir), 'raft', OPTS);
      expect(contents(r)).toEqual(before);
      await r.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convergeValue, type Samples } from '../../src/model/point.js';
import { openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { batchOf, HOUR, ManualEnv } from './engine-test-env.js';

const T0 = 1_699_999_200_000;
const SERIES = ['a', 'b{x="1"}', 'b{x="2"}'];
const VALUES = [0, -0, 1, 2.5, -1, Number.NaN, 1e300];
const SPAN = 5 * HOUR;

type Cmd =
  | { op: 'insert'; points: Array<[number, number, number]> }
  | { op: 'flush' | 'compact' | 'maintain' | 'restart' | 'crash' }
  | { op: 'delete'; s: number }
  | { op: 'query'; s: number; a: number; b: number };

/** An insert of 1..maxLength points as (series, time offset, value) indexes. */
const insertArb = (maxLength: number) =>
  fc
    .array(
      fc.tuple(
        fc.nat(SERIES.length - 1),
        // A coarse grid makes duplicates common; a fine one puts points in every window.
        fc.oneof(
          fc.nat(50).map((k) => k * 360_000),
          fc.nat(SPAN - 1),
        ),
        fc.nat(VALUES.length - 1),
      ),
      { minLength: 1, maxLength },
    )
    .map((points) => ({ op: 'insert' as const, points }));

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: insertArb(30) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<Cmd>({ op: 'flush' }, { op: 'compact' }, { op: 'maintain' }),
  },
  { weight: 1, arbitrary: fc.constantFrom<Cmd>({ op: 'restart' }, { op: 'crash' }) },
  { weight: 1, arbitrary: fc.nat(SERIES.length - 1).map((s) => ({ op: 'delete' as const, s })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(SERIES.length - 1), fc.nat(SPAN), fc.nat(SPAN))
      .map(([s, x, y]) => ({ op: 'query' as const, s, a: Math.min(x, y), b: Math.max(x, y) + 1 })),
  },
);

function same(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

describe('storage engine against a plain in-memory model', () => {
  it('answers every query like the model, through flushes, compactions, restarts and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 40 }), async (cmds) => {
        const mem = new MemoryVfs();
        // A window wider than the data, so the model never has to predict rejections.
        const opts = {
          blockRangeMs: HOUR,
          outOfOrderWindowMs: 2 * SPAN,
          maxPointsPerChunk: 8,
          blockChunkMaxPoints: 16,
          compactionRangesMs: [2 * HOUR, 4 * HOUR],
        };
        const open = () => openEngine(new ManualEnv(mem.view(), T0 + SPAN), opts);
        let e = await open();
        const model = new Map<string, Map<number, number>>();
        const check = async (s: string, a: number, b: number) => {
          const got = await e.readRange(s, T0 + a, T0 + b);
          const want = [...(model.get(s) ?? new Map<number, number>())]
            .filter(([t]) => t >= T0 + a && t < T0 + b)
            .sort((x, y) => x[0] - y[0]);
          expect(Array.from(got.timestamps)).toEqual(want.map(([t]) => t));
          for (let i = 0; i < want.length; i++) {
            if (!same(got.values[i], want[i][1])) {
              throw new Error(`${s}@${want[i][0]}: got ${got.values[i]}, want ${want[i][1]}`);
            }
          }
        };
        for (const c of cmds) {
          switch (c.op) {
            case 'insert': {
              await e.write(batchOf(c.points.map(([s, t, v]) => [SERIES[s], T0 + t, VALUES[v]])));
              for (const [s, t, v] of c.points) {
                const m = model.get(SERIES[s]) ?? new Map<number, number>();
                model.set(SERIES[s], m);
                const old = m.get(T0 + t);
                m.set(T0 + t, old === undefined ? VALUES[v] : convergeValue(old, VALUES[v]));
              }
              break;
            }
            case 'flush':
              await e.flush();
              break;
            case 'compact':
              await e.compact();
              break;
            case 'maintain':
              await e.maintain();
              break;
            case 'restart':
              await e.close();
              e = await open();
              break;
            case 'crash':
              // fsync=batch acknowledges after the fsync: a crash loses nothing acknowledged.
              mem.crash({ tear: true });
              e = await open();
              break;
            case 'delete':
              expect(await e.deleteSeries(SERIES[c.s])).toBe(
                (model.get(SERIES[c.s])?.size ?? 0) > 0,
              );
              model.delete(SERIES[c.s]);
              break;
            case 'query':
              await check(SERIES[c.s], c.a, c.b);
              break;
          }
        }
        for (const s of SERIES) await check(s, 0, SPAN);
        const present = SERIES.filter((s) => (model.get(s)?.size ?? 0) > 0).sort();
        expect(await e.select([{ name: '__name__', op: '=~', value: '.+' }])).toEqual(present);
        await e.close();
      }),
      { numRuns: 200 },
    );
  });
});

type ConcurrentCmd =
  | { op: 'insert'; points: Array<[number, number, number]> }
  | { op: 'delete'; s: number }
  | { op: 'yield'; turns: number }
  | { op: 'flush' | 'compact' | 'maintain' | 'read' | 'settle' | 'crash' };

const concurrentCmdArb: fc.Arbitrary<ConcurrentCmd> = fc.oneof(
  { weight: 6, arbitrary: insertArb(20) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<ConcurrentCmd>(
      { op: 'flush' },
      { op: 'compact' },
      { op: 'maintain' },
      { op: 'read' },
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom<ConcurrentCmd>({ op: 'settle' }) },
  // A few microtask turns: operations in flight get part of the way (a cut taken, a block
  // written but not yet published), so later calls land in between.
  { weight: 3, arbitrary: fc.nat(60).map((turns) => ({ op: 'yield' as const, turns })) },
  { weight: 1, arbitrary: fc.constantFrom<ConcurrentCmd>({ op: 'crash' }) },
  { weight: 1, arbitrary: fc.nat(SERIES.length - 1).map((s) => ({ op: 'delete' as const, s })) },
);

describe('storage engine against the model, operations in flight together', () => {
  it('answers like the model when writes, deletes, reads, flushes and compactions overlap', async () => {
    // write() and deleteSeries() change the head synchronously when called, so the model
    // applies them in call order; flushes and compactions must not change any answer.
    await fc.assert(
      fc.asyncProperty(
        fc.array(concurrentCmdArb, { minLength: 1, maxLength: 60 }),
        async (cmds) => {
          const mem = new MemoryVfs();
          const opts = {
            blockRangeMs: HOUR,
            outOfOrderWindowMs: 2 * SPAN,
            maxPointsPerChunk: 8,
            blockChunkMaxPoints: 16,
            compactionRangesMs: [2 * HOUR, 4 * HOUR],
            walSegmentBytes: 2048,
          };
          const open = () => openEngine(new ManualEnv(mem.view(), T0 + SPAN), opts);
          let e = await open();
          const model = new Map<string, Map<number, number>>();
          let inflight: Promise<unknown>[] = [];
          const check = (s: string, got: Samples, want: Map<number, number> | undefined) => {
            const sorted = [...(want ?? [])].sort((x, y) => x[0] - y[0]);
            expect(Array.from(got.timestamps)).toEqual(sorted.map(([t]) => t));
            for (let i = 0; i < sorted.length; i++) {
              if (!same(got.values[i], sorted[i][1])) {
                throw new Error(`${s}@${sorted[i][0]}: got ${got.values[i]}, want ${sorted[i][1]}`);
              }
            }
          };
          const checkAll = async () => {
            for (const s of SERIES) check(s, await e.readRange(s, 0, T0 * 2), model.get(s));
            const present = SERIES.filter((s) => (model.get(s)?.size ?? 0) > 0).sort();
            expect(await e.select([{ name: '__name__', op: '=~', value: '.+' }])).toEqual(present);
          };
          for (const c of cmds) {
            switch (c.op) {
              case 'insert': {
                const pts = c.points.map(([s, t, v]): [string, number, number] => [
                  SERIES[s],
                  T0 + t,
                  VALUES[v],
                ]);
                inflight.push(e.write(batchOf(pts)));
                for (const [s, t, v] of pts) {
                  const m = model.get(s) ?? new Map<number, number>();
                  model.set(s, m);
                  const old = m.get(t);
                  m.set(t, old === undefined ? v : convergeValue(old, v));
                }
                break;
              }
              case 'delete':
                inflight.push(e.deleteSeries(SERIES[c.s]));
                model.delete(SERIES[c.s]);
                break;
              case 'flush':
                inflight.push(e.flush());
                break;
              case 'compact':
                inflight.push(e.compact());
                break;
              case 'maintain':
                inflight.push(e.maintain());
                break;
              case 'read':
                // A read sees the state at its call, whatever finishes while it runs.
                for (const s of SERIES) {
                  const want = model.get(s) === undefined ? undefined : new Map(model.get(s));
                  inflight.push(e.readRange(s, 0, T0 * 2).then((got) => check(s, got, want)));
                }
                break;
              case 'yield':
                for (let i = 0; i < c.turns; i++) await Promise.resolve();
                break;
              case 'settle':
                await Promise.all(inflight);
                inflight = [];
                break;
              case 'crash':
                // Everything settled was acknowledged (fsync=batch): a crash loses none of it.
                await Promise.all(inflight);
                inflight = [];
                mem.crash({ tear: true });
                e = await open();
                break;
            }
          }
          await Promise.all(inflight);
          await checkAll();
          mem.crash({ tear: true });
          e = await open();
          await checkAll();
          await e.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});

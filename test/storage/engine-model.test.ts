import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convergeValue } from '../../src/model/point.js';
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

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
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
        { minLength: 1, maxLength: 30 },
      )
      .map((points) => ({ op: 'insert' as const, points })),
  },
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

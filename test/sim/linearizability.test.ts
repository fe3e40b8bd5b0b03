import { describe, expect, it } from 'vitest';
import {
  checkLinearizable,
  type HistoryOp,
  type KvInput,
  type KvOutput,
  type OpStatus,
} from '../../sim/checkers/linearizability.js';

let nextId = 0;
function op(
  client: number,
  input: KvInput,
  invoke: number,
  complete: number,
  status: OpStatus,
  output: KvOutput = null,
): HistoryOp {
  return { id: nextId++, client, input, invoke, complete, status, output };
}
const put = (key: string, value: string): KvInput => ({ f: 'put', key, value });
const get = (key: string): KvInput => ({ f: 'get', key });
const cas = (key: string, expected: string | null, value: string): KvInput => ({
  f: 'cas',
  key,
  expected,
  value,
});

describe('checkLinearizable', () => {
  it('accepts a sequential history', () => {
    const h = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(0, get('x'), 2, 3, 'ok', { value: 'a' }),
      op(0, cas('x', 'a', 'b'), 4, 5, 'ok', { swapped: true }),
      op(0, cas('x', 'a', 'c'), 6, 7, 'ok', { swapped: false }),
      op(0, get('x'), 8, 9, 'ok', { value: 'b' }),
    ];
    expect(checkLinearizable(h).verdict).toBe('ok');
  });

  it('rejects a stale read after a completed write', () => {
    const h = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(1, put('x', 'b'), 2, 3, 'ok'),
      op(2, get('x'), 4, 5, 'ok', { value: 'a' }),
    ];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('violation');
    if (r.verdict === 'violation') {
      expect(r.key).toBe('x');
      expect(r.explanation).toContain('get()');
    }
  });

  it('accepts either order for concurrent writes and reads', () => {
    const h = [
      op(0, put('x', 'a'), 0, 10, 'ok'),
      op(1, put('x', 'b'), 1, 9, 'ok'),
      op(2, get('x'), 2, 3, 'ok', { value: 'b' }),
      op(3, get('x'), 4, 5, 'ok', { value: 'a' }),
    ];
    expect(checkLinearizable(h).verdict).toBe('ok');
  });

  it('rejects reads that see values go back in time (a new-old inversion)', () => {
    const h = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(1, put('x', 'b'), 2, 20, 'ok'),
      op(2, get('x'), 3, 4, 'ok', { value: 'b' }),
      op(3, get('x'), 5, 6, 'ok', { value: 'a' }),
    ];
    expect(checkLinearizable(h).verdict).toBe('violation');
  });

  it('lets an unknown (info) write take effect late or never', () => {
    const late = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(1, put('x', 'b'), 2, 0, 'info'),
      op(2, get('x'), 5, 6, 'ok', { value: 'a' }),
      op(2, get('x'), 7, 8, 'ok', { value: 'b' }),
    ];
    expect(checkLinearizable(late).verdict).toBe('ok');
    const never = [op(0, put('x', 'a'), 0, 1, 'ok'), op(1, put('x', 'b'), 2, 0, 'info')];
    expect(checkLinearizable(never).verdict).toBe('ok');
  });

  it('drops definite failures: a failed write must not be observed', () => {
    const h = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(1, put('x', 'b'), 2, 3, 'fail'),
      op(2, get('x'), 4, 5, 'ok', { value: 'b' }),
    ];
    expect(checkLinearizable(h).verdict).toBe('violation');
  });

  it('checks compare-and-set outcomes against the register', () => {
    const bothSwap = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(1, cas('x', 'a', 'b'), 2, 5, 'ok', { swapped: true }),
      op(2, cas('x', 'a', 'c'), 2, 5, 'ok', { swapped: true }),
    ];
    expect(checkLinearizable(bothSwap).verdict).toBe('violation');
    const oneSwap = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(1, cas('x', 'a', 'b'), 2, 5, 'ok', { swapped: true }),
      op(2, cas('x', 'a', 'c'), 2, 5, 'ok', { swapped: false }),
      op(3, get('x'), 6, 7, 'ok', { value: 'b' }),
    ];
    expect(checkLinearizable(oneSwap).verdict).toBe('ok');
  });

  it('partitions by key: each key is its own register', () => {
    const h = [
      op(0, put('x', 'a'), 0, 1, 'ok'),
      op(1, put('y', 'b'), 0, 1, 'ok'),
      op(2, get('x'), 2, 3, 'ok', { value: 'a' }),
      op(3, get('y'), 2, 3, 'ok', { value: 'b' }),
      op(3, get('z'), 2, 3, 'ok', { value: null }),
    ];
    const r = checkLinearizable(h);
    expect(r).toMatchObject({ verdict: 'ok', keys: 3 });
    const bad = [...h, op(4, get('y'), 4, 5, 'ok', { value: 'a' })];
    expect(checkLinearizable(bad)).toMatchObject({ verdict: 'violation', key: 'y' });
  });

  it('answers unknown instead of hanging when the step bound is hit', () => {
    // Many concurrent writes and a final impossible read force a wide search.
    const h: HistoryOp[] = [];
    for (let i = 0; i < 10; i++) h.push(op(i, put('x', `v${i}`), 0, 100, 'ok'));
    h.push(op(99, get('x'), 200, 201, 'ok', { value: 'never-written' }));
    expect(checkLinearizable(h, { maxStepsPerKey: 1000 }).verdict).toBe('unknown');
    expect(checkLinearizable(h).verdict).toBe('violation');
  });

  it('agrees with brute force on small random histories', () => {
    // Deterministic pseudo-random histories checked against an exhaustive permutation search.
    let s = 12345;
    const rnd = (k: number): number => {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      return (s >>> 16) % k;
    };
    let disagreements = 0;
    let violations = 0;
    for (let trial = 0; trial < 300; trial++) {
      const h: HistoryOp[] = [];
      const n = 2 + rnd(5);
      for (let i = 0; i < n; i++) {
        const invoke = rnd(10);
        const complete = invoke + rnd(6);
        const kind = rnd(3);
        const v = `v${rnd(3)}`;
        const status: OpStatus = rnd(8) === 0 ? 'info' : 'ok';
        if (kind === 0) h.push(op(i, put('k', v), invoke, complete, status));
        else if (kind === 1) {
          const seen = rnd(4) === 0 ? null : `v${rnd(3)}`;
          h.push(op(i, get('k'), invoke, complete, 'ok', { value: seen }));
        } else {
          h.push(
            op(i, cas('k', `v${rnd(3)}`, v), invoke, complete, status, { swapped: rnd(2) === 0 }),
          );
        }
      }
      const fast = checkLinearizable(h).verdict;
      const slow = bruteForce(h) ? 'ok' : 'violation';
      if (fast !== slow) disagreements++;
      if (slow === 'violation') violations++;
    }
    expect(disagreements).toBe(0);
    // The generator must produce both kinds, or the comparison proves little.
    expect(violations).toBeGreaterThan(20);
    expect(violations).toBeLessThan(290);
  });
});

/** Tries every order of every subset of info ops; exponential, for tiny histories only. */
function bruteForce(history: readonly HistoryOp[]): boolean {
  const ops = history.filter(
    (o) => o.status !== 'fail' && !(o.status === 'info' && o.input.f === 'get'),
  );
  const done = new Array<boolean>(ops.length).fill(false);
  const search = (state: string | null, count: number): boolean => {
    const pending = ops.filter((o, i) => !done[i] && o.status === 'ok').length;
    if (pending === 0) return true;
    // The earliest return among unplaced ops bounds which ops may go next.
    let minReturn = Number.POSITIVE_INFINITY;
    ops.forEach((o, i) => {
      if (!done[i] && o.status === 'ok') minReturn = Math.min(minReturn, o.complete);
    });
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i];
      if (done[i] || o.invoke > minReturn) continue;
      const next = apply(state, o);
      if (next === undefined) continue;
      done[i] = true;
      const ok = search(next, count + 1);
      done[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return search(null, 0);
}

function apply(state: string | null, o: HistoryOp): string | null | undefined {
  const i = o.input;
  if (i.f === 'put') return i.value;
  if (i.f === 'get')
    return (o.output as { value: string | null }).value === state ? state : undefined;
  const matches = state === i.expected;
  if (o.status === 'info') return matches ? i.value : state;
  if ((o.output as { swapped: boolean }).swapped !== matches) return undefined;
  return matches ? i.value : state;
}

import { assert } from '../../src/model/assert.js';

/**
 * Linearizability of a client-visible history, checked with the Wing-Gong-Lowe search and
 * Porcupine's memoisation of (set of linearized operations, model state). The history is first
 * partitioned by key: a register per key is independent of the others, so each key is checked
 * alone, which keeps the search space small.
 *
 * The model is a register per key with put, get and compare-and-set. An operation whose
 * outcome the client never learned (`info`: it timed out) may have taken effect at any point
 * after its invocation, or never; it gets a return time of +infinity and may produce any
 * output, as in Knossos and Porcupine. A definite failure (`fail`) never took effect and is
 * dropped before the search.
 */

/** Register values; null is "absent". */
export type RegisterValue = string | null;

export type KvInput =
  | { readonly f: 'put'; readonly key: string; readonly value: string }
  | { readonly f: 'get'; readonly key: string }
  | {
      readonly f: 'cas';
      readonly key: string;
      readonly expected: RegisterValue;
      readonly value: string;
    };

/** Output of a completed operation: the value read by get, the success flag of cas. */
export type KvOutput = { readonly value: RegisterValue } | { readonly swapped: boolean } | null;

export type OpStatus = 'ok' | 'fail' | 'info';

export interface HistoryOp {
  readonly id: number;
  readonly client: number;
  readonly input: KvInput;
  /** Virtual time of invocation and completion; `complete` is ignored for info. */
  readonly invoke: number;
  readonly complete: number;
  readonly status: OpStatus;
  /** Meaningful only when status is ok. */
  readonly output: KvOutput;
}

export type LinearizabilityResult =
  | { readonly verdict: 'ok'; readonly keys: number; readonly steps: number }
  | {
      readonly verdict: 'violation';
      readonly key: string;
      readonly explanation: string;
      /** The operations of that key, for printing. */
      readonly ops: readonly HistoryOp[];
    }
  | { readonly verdict: 'unknown'; readonly key: string; readonly explanation: string };

export interface LinearizabilityOptions {
  /** Search steps allowed per key before the answer is "unknown" instead of a hang. */
  maxStepsPerKey?: number;
}

const DEFAULT_MAX_STEPS = 500_000;

export function checkLinearizable(
  history: readonly HistoryOp[],
  options: LinearizabilityOptions = {},
): LinearizabilityResult {
  const maxSteps = options.maxStepsPerKey ?? DEFAULT_MAX_STEPS;
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    if (op.status === 'fail') continue;
    // A read that never returned constrains nothing.
    if (op.status === 'info' && op.input.f === 'get') continue;
    let ops = byKey.get(op.input.key);
    if (ops === undefined) {
      ops = [];
      byKey.set(op.input.key, ops);
    }
    ops.push(op);
  }
  // Sorted keys: the first violation reported does not depend on history order.
  const keys = [...byKey.keys()].sort();
  let steps = 0;
  for (const key of keys) {
    const ops = byKey.get(key)!;
    const r = checkRegister(ops, maxSteps);
    steps += r.steps;
    if (r.verdict === 'violation') {
      return { verdict: 'violation', key, explanation: r.explanation, ops };
    }
    if (r.verdict === 'unknown') {
      return { verdict: 'unknown', key, explanation: r.explanation };
    }
  }
  return { verdict: 'ok', keys: keys.length, steps };
}

/** One call or return in the doubly linked list the search lifts entries out of. */
interface Entry {
  op: number;
  isCall: boolean;
  time: number;
  /** The matching return of a call entry. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

interface RegisterCheck {
  verdict: 'ok' | 'violation' | 'unknown';
  steps: number;
  explanation: string;
}

/** Applies `op` to `state`; returns the next state, or undefined when the output is impossible. */
function step(state: RegisterValue, op: HistoryOp): RegisterValue | undefined {
  const input = op.input;
  const known = op.status === 'ok';
  switch (input.f) {
    case 'put':
      return input.value;
    case 'get': {
      assert(known, 'linearizability: unknown reads are dropped before the search');
      const out = op.output as { value: RegisterValue };
      return out.value === state ? state : undefined;
    }
    case 'cas': {
      const matches = state === input.expected;
      if (!known) return matches ? input.value : state;
      const out = op.output as { swapped: boolean };
      if (out.swapped !== matches) return undefined;
      return matches ? input.value : state;
    }
  }
}

function checkRegister(ops: readonly HistoryOp[], maxSteps: number): RegisterCheck {
  const n = ops.length;
  // Build the call/return list sorted by time; at equal times calls come first, so operations
  // that touch at an instant count as concurrent (the permissive reading).
  const events: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const op = ops[i];
    const ret: Entry = {
      op: i,
      isCall: false,
      time: op.status === 'info' ? Number.POSITIVE_INFINITY : op.complete,
      match: null,
      prev: null,
      next: null,
    };
    assert(ret.time >= op.invoke, 'linearizability: an operation completes before it starts');
    const call: Entry = {
      op: i,
      isCall: true,
      time: op.invoke,
      match: ret,
      prev: null,
      next: null,
    };
    events.push(call, ret);
  }
  events.sort(
    (a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1),
  );
  const head: Entry = { op: -1, isCall: false, time: 0, match: null, prev: null, next: null };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const words = (n + 31) >>> 5;
  const linearized = new Uint32Array(words);
  const cache = new Set<string>();
  const stack: { entry: Entry; state: RegisterValue }[] = [];
  let state: RegisterValue = null;
  let entry = head.next;
  let steps = 0;
  let deepest = 0;
  let stuckAt = -1;

  while (head.next !== null) {
    if (++steps > maxSteps) {
      return {
        verdict: 'unknown',
        steps,
        explanation: `search exceeded ${maxSteps} steps over ${n} operations`,
      };
    }
    assert(entry !== null, 'linearizability: ran off the end of the entry list');
    if (entry.isCall) {
      const op = ops[entry.op];
      const next = step(state, op);
      let advanced = false;
      if (next !== undefined) {
        linearized[entry.op >>> 5] |= 1 << (entry.op & 31);
        const key = `${linearized.join(',')}|${next === null ? '\u0000' : next}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          advanced = true;
          if (stack.length > deepest) deepest = stack.length;
        } else {
          linearized[entry.op >>> 5] &= ~(1 << (entry.op & 31));
        }
      }
      if (!advanced) entry = entry.next;
    } else {
      // A return whose call is still in the list: that operation must be linearized before
      // this point and cannot be. Backtrack.
      if (stack.length === deepest && stuckAt < 0) stuckAt = entry.op;
      const top = stack.pop();
      if (top === undefined) {
        return {
          verdict: 'violation',
          steps,
          explanation: explain(ops, deepest, stuckAt >= 0 ? stuckAt : entry.op),
        };
      }
      state = top.state;
      linearized[top.entry.op >>> 5] &= ~(1 << (top.entry.op & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { verdict: 'ok', steps, explanation: '' };
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  call.next!.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  call.next!.prev = call;
}

function explain(ops: readonly HistoryOp[], deepest: number, stuck: number): string {
  const op = ops[stuck];
  return (
    `no linearization of ${ops.length} operations on key ${JSON.stringify(op.input.key)}: ` +
    `at most ${deepest} could be ordered; operation #${op.id} (client ${op.client}) ` +
    `${describeOp(op)} cannot be placed before it returned at t=${op.complete}`
  );
}

export function describeOp(op: HistoryOp): string {
  const i = op.input;
  const args =
    i.f === 'put'
      ? `put(${JSON.stringify(i.value)})`
      : i.f === 'get'
        ? 'get()'
        : `cas(${JSON.stringify(i.expected)} -> ${JSON.stringify(i.value)})`;
  const out =
    op.status !== 'ok' || op.output === null
      ? op.status
      : 'value' in op.output
        ? `-> ${JSON.stringify(op.output.value)}`
        : `-> ${op.output.swapped ? 'swapped' : 'not swapped'}`;
  return `${args} ${out} [${op.invoke}, ${op.status === 'info' ? 'inf' : op.complete}]`;
}

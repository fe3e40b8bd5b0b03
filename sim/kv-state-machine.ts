import type { Entry, Snapshot, StateMachine } from '../raft/types.js';
import { assert } from '../src/model/assert.js';

/**
 * The metadata workload's replicated state machine: a few string registers with put and
 * compare-and-set. Reads do not go through the log; they use ReadIndex and then read `get`.
 * Small on purpose: the point is to check Raft, not to model the cluster metadata.
 */
export type KvCommand =
  | { readonly f: 'put'; readonly key: string; readonly value: string }
  | {
      readonly f: 'cas';
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    };

export type KvResult = { readonly f: 'put' } | { readonly f: 'cas'; readonly swapped: boolean };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bound on keys: the workload uses a handful; more means a decoding bug. */
const MAX_KEYS = 1024;

/**
 * The command each encoded payload was made from. Raft hands the proposer's own array to every
 * node that receives the entry over the simulated network (nothing mutates entry data), so
 * five applies of one entry decode it at most once; entries read back from a disk are new
 * arrays and are decoded from their bytes. Weak: a payload leaves with the last log holding it.
 */
const commands = new WeakMap<Uint8Array, KvCommand>();

export function encodeKvCommand(c: KvCommand): Uint8Array {
  const data = encoder.encode(JSON.stringify(c));
  commands.set(data, c);
  return data;
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  const c = commands.get(data) ?? (JSON.parse(decoder.decode(data)) as KvCommand);
  assert(
    (c.f === 'put' || c.f === 'cas') && typeof c.key === 'string' && typeof c.value === 'string',
    'decodeKvCommand: malformed command',
  );
  return c;
}

export class KvStateMachine implements StateMachine {
  private values = new Map<string, string>();
  /** Last applied index, for the invariant that applies move forward. */
  applied = 0;

  constructor(private readonly onApply?: (entry: Entry) => void) {}

  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  apply(entry: Entry): KvResult {
    this.onApply?.(entry);
    this.applied = entry.index;
    const c = decodeKvCommand(entry.data);
    if (c.f === 'put') {
      this.set(c.key, c.value);
      return { f: 'put' };
    }
    const swapped = (this.values.get(c.key) ?? null) === c.expected;
    if (swapped) this.set(c.key, c.value);
    return { f: 'cas', swapped };
  }

  applyConfChange(_change: unknown, entry: Entry): void {
    this.onApply?.(entry);
    this.applied = entry.index;
  }

  snapshot(): Uint8Array {
    // Sorted, so every node serialises the same state to the same bytes.
    const pairs = [...this.values.entries()].sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
    );
    return encoder.encode(JSON.stringify(pairs));
  }

  restore(snapshot: Snapshot): void {
    const pairs: unknown =
      snapshot.data.length === 0 ? [] : JSON.parse(decoder.decode(snapshot.data));
    assert(Array.isArray(pairs), 'KvStateMachine.restore: malformed snapshot');
    this.values = new Map(pairs as [string, string][]);
    this.applied = snapshot.meta.index;
  }

  private set(key: string, value: string): void {
    assert(this.values.has(key) || this.values.size < MAX_KEYS, 'KvStateMachine: too many keys');
    this.values.set(key, value);
  }
}

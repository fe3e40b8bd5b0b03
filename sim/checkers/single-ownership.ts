import type { ClusterState } from '../../src/cluster/cluster-state.js';
import type { Ring } from '../../src/cluster/ring.js';

/**
 * Single ownership: the owners (read replicas) a node computes for a range are a function of
 * the committed epoch, and change only in the staged step that moves reads (`mid`, or a cancel
 * at `mid` stepping back to `started`), never together with the write replicas.
 * - Two nodes at the same epoch compute the same ring (else both may own a range).
 * - Outside a staged operation, and in its `prepared` step, no range has pending owners (write
 *   replicas = read replicas); in the `started` and `mid` steps every owner is a write replica.
 * - Between two consecutive epochs the owners of a range change only from `started` to `mid`
 *   of an operation (or back), and then its write replicas stay the same.
 */
interface EpochRecord {
  readonly node: string;
  readonly fingerprint: string;
  readonly ring: Ring;
  readonly step: string;
}

/** Bound on epochs remembered (a run commits far fewer). */
const MAX_EPOCHS = 100_000;

export class SingleOwnership {
  private readonly epochs = new Map<number, EpochRecord>();

  observe(node: string, state: ClusterState, ring: Ring, at: number): string | null {
    if (state.epoch === 0 || ring.isEmpty()) return null;
    const where = `at ${at}ms ${node} epoch ${state.epoch}`;
    const ranges = ring.ranges();
    const fingerprint = ranges
      .map((r) => `${r.end}:${r.replicas.join(',')}/${r.writeReplicas.join(',')}`)
      .join(' ');
    const step =
      state.operation === null ? 'none' : `${state.operation.kind}:${state.operation.step}`;
    const started = state.operation?.step === 'started' || state.operation?.step === 'mid';
    for (const r of ranges) {
      if (!started && !sameSet(r.replicas, r.writeReplicas)) {
        return `${where}: range ${r.start}..${r.end} has write replicas [${r.writeReplicas}] other than its owners [${r.replicas}] at step ${step}`;
      }
      if (started && !r.replicas.every((o) => r.writeReplicas.includes(o))) {
        return `${where}: range ${r.start}..${r.end} has an owner missing from its write replicas [${r.writeReplicas}] while streaming`;
      }
    }
    const known = this.epochs.get(state.epoch);
    if (known !== undefined) {
      if (known.fingerprint !== fingerprint) {
        const diff = firstDifference(known.ring, ring);
        return `${where}: ${known.node} and ${node} compute different replicas at the same epoch (${diff})`;
      }
      return null;
    }
    if (this.epochs.size >= MAX_EPOCHS) return null;
    const rec: EpochRecord = { node, fingerprint, ring, step };
    this.epochs.set(state.epoch, rec);
    const prev = this.epochs.get(state.epoch - 1);
    if (prev !== undefined) {
      const why = this.transition(prev, rec, state.epoch - 1);
      if (why !== null) return `${where}: ${why}`;
    }
    const next = this.epochs.get(state.epoch + 1);
    if (next !== undefined) {
      const why = this.transition(rec, next, state.epoch);
      if (why !== null) return `${where}: ${why}`;
    }
    return null;
  }

  private transition(a: EpochRecord, b: EpochRecord, epoch: number): string | null {
    const diff = firstDifference(a.ring, b.ring, true);
    if (diff === null) return null;
    const kind = (step: string) => step.slice(0, step.lastIndexOf(':'));
    const phase = (step: string) => step.slice(step.lastIndexOf(':') + 1);
    const movesReads =
      kind(a.step) === kind(b.step) &&
      ((phase(a.step) === 'started' && phase(b.step) === 'mid') ||
        (phase(a.step) === 'mid' && phase(b.step) === 'started'));
    if (!movesReads) {
      return `owners changed from epoch ${epoch} (${a.step}) to ${epoch + 1} (${b.step}) outside a mid step: ${diff}`;
    }
    const writes = firstWriteDifference(a.ring, b.ring);
    if (writes === null) return null;
    return `owners and write replicas both changed from epoch ${epoch} (${a.step}) to ${epoch + 1} (${b.step}): ${writes}`;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** The first token whose replicas differ between the rings (owners only, or write too), or null. */
function firstDifference(a: Ring, b: Ring, ownersOnly = false): string | null {
  const ends = new Set<string>();
  for (const r of a.ranges()) ends.add(r.end);
  for (const r of b.ranges()) ends.add(r.end);
  for (const t of [...ends].sort()) {
    const ra = a.readReplicas(t);
    const rb = b.readReplicas(t);
    if (!sameSet(ra, rb)) return `token ${t}: owners [${ra}] vs [${rb}]`;
    if (ownersOnly) continue;
    const wa = a.writeReplicas(t);
    const wb = b.writeReplicas(t);
    if (!sameSet(wa, wb)) return `token ${t}: write replicas [${wa}] vs [${wb}]`;
  }
  return ownersOnly ? null : 'range boundaries differ';
}

/** The first token whose write replicas (as a set) differ between the rings, or null. */
function firstWriteDifference(a: Ring, b: Ring): string | null {
  const ends = new Set<string>();
  for (const r of a.ranges()) ends.add(r.end);
  for (const r of b.ranges()) ends.add(r.end);
  for (const t of [...ends].sort()) {
    const wa = a.writeReplicas(t);
    const wb = b.writeReplicas(t);
    if (!sameSet(wa, wb)) return `token ${t}: write replicas [${wa}] vs [${wb}]`;
  }
  return null;
}

import type { Entry, LogReader, Message, NodeId, Term } from '../../raft/types.js';

/**
 * The Raft safety properties, checked while the simulation runs (at the step a violation
 * happens, so the trace ends where the bug is) and once more at the end:
 * - election safety: at most one leader per term;
 * - a committed entry is never lost or changed (state machine safety, leader completeness);
 * - every node applies the same sequence of entries (the same prefix of one log);
 * - at most one membership change is in flight (appended by a leader and not yet applied);
 * - protocol rules whose breach precedes a loss: a leader advances its commit index only to
 *   an entry of its own term (Figure 8), a node votes once per term, and a leader serves
 *   ReadIndex reads only after committing an entry of its term.
 * A leader is recognised by what only a leader sends: AppendEntries, heartbeats, snapshots
 * and TimeoutNow carry the sender's term.
 */
export interface Violation {
  readonly invariant:
    | 'one-leader-per-term'
    | 'committed-entry-kept'
    | 'same-applied-prefix'
    | 'one-conf-change-in-flight'
    | 'leader-commits-own-term'
    | 'one-vote-per-term'
    | 'read-after-own-term-commit';
  readonly at: number;
  readonly message: string;
}

/** The protocol-rule checks (as opposed to end-to-end safety properties). */
const PROTOCOL_RULES: ReadonlySet<Violation['invariant']> = new Set<Violation['invariant']>([
  'leader-commits-own-term',
  'one-vote-per-term',
  'read-after-own-term-commit',
]);

/** Bound on remembered votes; a sweep's runs are short, so clearing loses nothing real. */
const MAX_VOTES_TRACKED = 100_000;

/** A conf-change scan stops after this many entries (bounded work per append). */
const MAX_CONF_SCAN = 4096;

export class RaftInvariants {
  private readonly leaders = new Map<Term, NodeId>();
  /** Identity of each committed entry, by index (index 0 unused). */
  private readonly committed: (string | undefined)[] = [];
  /** Last index each node applied in its current incarnation. */
  private readonly lastApplied = new Map<NodeId, number>();
  private violation: Violation | null = null;
  /** "voter/term" -> the candidate it voted for. */
  private readonly votes = new Map<string, NodeId>();
  /** Per node: the term it last led and its commit index then. */
  private readonly leaderCommit = new Map<NodeId, { term: Term; commit: number }>();
  maxCommitted = 0;

  /**
   * `ruleChecks: false` keeps only the end-to-end safety properties, to show that those (and
   * linearizability) catch a planted bug by its consequences, not only by the rule it breaks.
   */
  constructor(
    private readonly clock: () => number,
    private readonly ruleChecks = true,
  ) {}

  get failed(): Violation | null {
    return this.violation;
  }

  private fail(invariant: Violation['invariant'], message: string): void {
    if (!this.ruleChecks && PROTOCOL_RULES.has(invariant)) return;
    if (this.violation === null) this.violation = { invariant, at: this.clock(), message };
  }

  /** Every packet a node sends passes here. */
  onSend(m: Message): void {
    if (m.type === 'voteResp') {
      if (m.granted && !m.pre) this.onVote(m.from, m.term, m.to);
      return;
    }
    if (
      m.type !== 'append' &&
      m.type !== 'heartbeat' &&
      m.type !== 'snapshot' &&
      m.type !== 'timeoutNow'
    ) {
      return;
    }
    this.onLeader(m.from, m.term);
  }

  /**
   * Raft's voting rule (section 5.2): a server votes for at most one candidate per term, across
   * restarts -- which is why the vote must be durable before the grant is sent.
   */
  private onVote(voter: NodeId, term: Term, candidate: NodeId): void {
    const key = `${voter}/${term}`;
    const earlier = this.votes.get(key);
    if (earlier === undefined) {
      if (this.votes.size >= MAX_VOTES_TRACKED) this.votes.clear();
      this.votes.set(key, candidate);
    } else if (earlier !== candidate) {
      this.fail(
        'one-vote-per-term',
        `${voter} voted for ${earlier} and then for ${candidate} in term ${term}`,
      );
    }
  }

  /**
   * A leader served a ReadIndex read that it accepted while the entry at its commit index was
   * not of its own term. Until a leader commits an entry of its term, its commit index may be
   * behind the group's, and a read at it can miss acknowledged writes (Raft section 6.4).
   */
  onReadServed(node: NodeId, term: Term, commitTermAtRequest: Term | null): void {
    if (commitTermAtRequest !== term) {
      this.fail(
        'read-after-own-term-commit',
        `leader ${node} of term ${term} served a read accepted when its commit index held an entry of term ${commitTermAtRequest}`,
      );
    }
  }

  /** A node acts as (or reports being) leader of `term`. */
  onLeader(node: NodeId, term: Term): void {
    const known = this.leaders.get(term);
    if (known === undefined) this.leaders.set(term, node);
    else if (known !== node) {
      this.fail('one-leader-per-term', `term ${term} has two leaders: ${known} and ${node}`);
    }
  }

  /** A node (re)started: it applies from its snapshot again. */
  onRestart(node: NodeId, appliedFrom: number): void {
    this.lastApplied.set(node, appliedFrom);
  }

  /** A node applied a committed entry (normal or membership change). */
  onApply(node: NodeId, entry: Entry): void {
    const last = this.lastApplied.get(node) ?? 0;
    if (entry.index <= last) {
      this.fail(
        'same-applied-prefix',
        `${node} applied index ${entry.index} after ${last}: applies must move forward`,
      );
      return;
    }
    this.lastApplied.set(node, entry.index);
    this.recordCommitted(node, entry, 'applied');
  }

  /** Entries a node knows are committed (its commit index covers them), e.g. after a save. */
  recordCommitted(node: NodeId, entry: Entry, how: string): void {
    const id = identity(entry);
    const known = this.committed[entry.index];
    if (known === undefined) {
      this.committed[entry.index] = id;
      if (entry.index > this.maxCommitted) this.maxCommitted = entry.index;
    } else if (known !== id) {
      this.fail(
        how === 'applied' ? 'same-applied-prefix' : 'committed-entry-kept',
        `${node} ${how} index ${entry.index} as ${describe(id)}, but ${describe(known)} was committed there`,
      );
    }
  }

  /**
   * A node is about to persist `entries` while its own commit index is `commit`. Rewriting an
   * index at or below its commit with a different entry loses a committed entry. (A stale node
   * may hold, and append, conflicting entries above its own commit index: Raft repairs those.)
   */
  onPersist(
    node: NodeId,
    entries: readonly Entry[],
    commit: number,
    termAt: (i: number) => Term | null,
  ): void {
    for (const e of entries) {
      if (e.index > commit) break;
      const had = termAt(e.index);
      const known = this.committed[e.index];
      if ((had !== null && had !== e.term) || (known !== undefined && known !== identity(e))) {
        this.fail(
          'committed-entry-kept',
          `${node} overwrote index ${e.index} at or below its commit index ${commit} ` +
            `(term ${had}${known === undefined ? '' : `, committed ${describe(known)}`}) with ${describe(identity(e))}`,
        );
        return;
      }
    }
  }

  /**
   * A leader of `term` moved its commit index to `commit`, whose entry has term `entryTerm`.
   * Raft's commit rule (section 5.4.2, Figure 8): a leader advances commit only to an entry of
   * its own term; counting replicas of older entries can commit an entry a later leader
   * overwrites. This checks the rule at the step it is broken, before the loss shows.
   */
  onLeaderCommit(node: NodeId, term: Term, commit: number, entryTerm: Term | null): void {
    const last = this.leaderCommit.get(node);
    this.leaderCommit.set(node, { term, commit });
    // The commit index a node has when it becomes leader is inherited, not advanced by it.
    if (last === undefined || last.term !== term || commit <= last.commit) return;
    if (entryTerm !== term) {
      this.fail(
        'leader-commits-own-term',
        `leader ${node} of term ${term} advanced commit from ${last.commit} to ${commit}, an entry of term ${entryTerm}`,
      );
    }
  }

  /**
   * A leader appended entries of its own term: its log may hold at most one membership change
   * above its applied index.
   */
  onLeaderAppend(node: NodeId, log: LogReader, applied: number): void {
    const last = log.lastIndex();
    const lo = Math.max(applied + 1, log.firstIndex(), last - MAX_CONF_SCAN + 1);
    if (lo > last) return;
    let confs = 0;
    const where: number[] = [];
    for (const e of log.entries(lo, last + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.type === 'conf') {
        confs++;
        where.push(e.index);
      }
    }
    if (confs > 1) {
      this.fail(
        'one-conf-change-in-flight',
        `leader ${node} has ${confs} unapplied membership changes at indexes ${where.join(', ')} (applied ${applied})`,
      );
    }
  }

  /**
   * End of run: each node's log, up to its commit index, must hold exactly the committed
   * entries; and a leader must hold every entry ever committed (leader completeness).
   */
  finalCheck(
    nodes: readonly { id: NodeId; log: LogReader; commit: number; leader: boolean }[],
  ): void {
    for (const { id, log, commit, leader } of nodes) {
      const lo = log.firstIndex();
      const hi = Math.min(leader ? log.lastIndex() : commit, log.lastIndex());
      if (leader && log.lastIndex() < this.maxCommitted) {
        this.fail(
          'committed-entry-kept',
          `leader ${id} ends at index ${log.lastIndex()}, but index ${this.maxCommitted} was committed`,
        );
        return;
      }
      if (lo > hi) continue;
      for (const e of log.entries(lo, hi + 1, Number.MAX_SAFE_INTEGER)) {
        if (e.index > commit && this.committed[e.index] === undefined) continue;
        this.recordCommitted(id, e, leader ? 'holds as leader' : 'holds committed');
      }
    }
  }
}

/** Entry objects are shared by the nodes that received them: identities are computed once. */
const identities = new WeakMap<Entry, string>();

function identity(e: Entry): string {
  let id = identities.get(e);
  if (id === undefined) {
    id = `${e.term}/${e.type}/${Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('latin1')}`;
    identities.set(e, id);
  }
  return id;
}

function describe(id: string): string {
  const [term, type, ...rest] = id.split('/');
  const data = rest.join('/');
  return `{term ${term}, ${type}, ${JSON.stringify(data.length > 60 ? `${data.slice(0, 60)}...` : data)}}`;
}

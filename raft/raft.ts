import { assert, RaftInvariantViolation } from './assert.js';
import {
  applyConfChange,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
} from './conf-change.js';
import { isWellFormedMessage } from './message-shape.js';
import { FollowerProgress } from './progress.js';
import { RaftLog } from './raft-log.js';
import { ReadIndexQueue } from './read-index.js';
import type {
  AppendMessage,
  AppendResponse,
  ConfChange,
  ConfState,
  Entry,
  HardState,
  HeartbeatMessage,
  HeartbeatResponse,
  Index,
  Message,
  NodeId,
  Progress,
  ProposeResult,
  RaftConfig,
  RaftErrorCode,
  RawNode,
  ReadState,
  Ready,
  RequestResult,
  Role,
  SnapshotChunkMessage,
  SnapshotChunkResponse,
  SnapshotMeta,
  SoftState,
  Status,
  Term,
  VoteMessage,
} from './types.js';

/** Distributes message fields over the union so each literal is checked against its variant. */
type Outgoing = Message extends infer M
  ? M extends Message
    ? Omit<M, 'from' | 'term'> & { term?: Term }
    : never
  : never;

interface IncomingSnapshot {
  readonly meta: SnapshotMeta;
  readonly buffer: Uint8Array;
  received: number;
}

/** Heartbeat answers without a chunk acknowledgement before the leader resends a chunk. */
const SNAPSHOT_RESEND_AFTER = 3;
const NO_OP = new Uint8Array(0);
const NO_PROGRESS: ReadonlyMap<NodeId, Progress> = new Map();
/** Bound on the buffer a follower allocates for an incoming snapshot. */
const MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024;

/**
 * The sans-I/O Raft core of one node (see RawNode in types.ts and docs/raft.md). Decisions are
 * pure: the only inputs are ticks, messages and requests; the only outputs are the Readys.
 */
export class RaftCore implements RawNode {
  readonly id: NodeId;
  private readonly cfg: RaftConfig;
  private readonly log: RaftLog;
  private term: Term;
  private vote: NodeId | null;
  private role: Role = 'follower';
  private lead: NodeId | null = null;
  /** The leader this node has seen in `term` (for the one-leader-per-term assertion). */
  private leaderOfTerm: NodeId | null = null;
  private conf: ConfState;
  /** Leader only: every other member. */
  private readonly progress = new Map<NodeId, FollowerProgress>();
  private readonly votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private transferee: NodeId | null = null;
  /** Leader: index of the last conf change appended (or its first-term no-op). */
  private pendingConfIndex: Index = 0;
  private readonly pendingReads: ReadIndexQueue;
  private incomingSnapshot: IncomingSnapshot | null = null;
  private msgs: Message[] = [];
  /** maybeCommit's match indexes, reused. */
  private readonly commitScratch: number[] = [];
  private readStates: ReadState[] = [];
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyOutstanding = false;

  constructor(config: RaftConfig) {
    assert(
      config.electionTicks > config.heartbeatTicks,
      'electionTicks must exceed heartbeatTicks',
    );
    assert(config.heartbeatTicks >= 1, 'heartbeatTicks must be at least 1');
    this.cfg = config;
    this.id = config.id;
    this.pendingReads = new ReadIndexQueue(config.maxUncommittedEntries);
    const { hardState, conf } = config.storage.initialState();
    this.log = new RaftLog(config.storage, hardState.commit, config.applied);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.conf = conf;
    this.prevHard = hardState;
    this.prevSoft = { role: 'follower', leader: null };
    this.resetRandomizedElectionTimeout();
  }

  // -------------------------------------------------------------------------------------------
  // Inputs
  // -------------------------------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  campaign(): void {
    this.hup(false);
  }

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id || !isWellFormedMessage(m)) return;
    if (m.term > this.term) {
      if (m.type === 'vote') {
        const inLease =
          this.cfg.checkQuorum &&
          this.lead !== null &&
          this.electionElapsed < this.cfg.electionTicks;
        // A follower that hears from its leader ignores campaigns: an isolated node cannot
        // disrupt a healthy group. A leadership transfer overrides the lease.
        if (inLease && !m.transfer) return;
      }
      const keepTerm =
        (m.type === 'vote' && m.pre) || (m.type === 'voteResp' && m.pre && m.granted);
      if (!keepTerm) {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === 'append' || m.type === 'heartbeat')
      ) {
        // Tells a stale leader (e.g. one cut off by a partition) about the newer term.
        this.send({
          type: 'appendResp',
          to: m.from,
          reject: true,
          index: 0,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === 'vote' && m.pre) {
        // A rejoining node with a lower term learns the current term from the rejection.
        this.send({ type: 'voteResp', to: m.from, pre: true, granted: false });
      }
      return;
    }

    if (m.type === 'vote') {
      this.handleVote(m);
      return;
    }
    switch (this.role) {
      case 'follower':
        this.stepFollower(m);
        return;
      case 'preCandidate':
      case 'candidate':
        this.stepCandidate(m);
        return;
      case 'leader':
        this.stepLeader(m);
        return;
    }
  }

  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    const index = this.appendEntry('normal', data);
    return { ok: true, index, term: this.term };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    // One membership change at a time, and not before this leader committed its first entry
    // (the no-op): the fix for the single-server change bug in Ongaro's dissertation erratum.
    if (this.pendingConfIndex > this.log.applied) return this.refuse('conf_change_pending');
    if (confChangeProblem(this.conf, change) !== null) {
      const unknown =
        change.type === 'removeNode' &&
        !this.conf.voters.includes(change.node) &&
        !this.conf.learners.includes(change.node);
      return this.refuse(unknown ? 'unknown_node' : 'invalid_conf_change');
    }
    if (change.type === 'addVoter') {
      const pr = this.progress.get(change.node);
      if (pr === undefined || pr.match < this.log.committed) return this.refuse('learner_behind');
    }
    const index = this.appendEntry('conf', encodeConfChange(change));
    this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  readIndex(ctx: string): RequestResult {
    if (this.role !== 'leader') return this.refuse('not_leader');
    // Until the leader commits an entry of its own term it may not know the latest commit
    // index (entries of earlier terms it holds may be committed already).
    if (!this.committedInOwnTerm() && !this.cfg.bugs.has('early-read-index')) {
      return this.refuse('read_not_ready');
    }
    if (this.pendingReads.isFull()) return this.refuse('overloaded');
    if (this.conf.voters.length === 1) {
      this.readStates.push({ ctx, index: this.log.committed });
      return { ok: true };
    }
    this.pendingReads.add(ctx, this.log.committed, this.id);
    this.bcastHeartbeat(ctx);
    return { ok: true };
  }

  transferLeader(to: NodeId): RequestResult {
    if (this.role !== 'leader') return this.refuse('not_leader');
    if (to === this.id) return { ok: true };
    if (!this.conf.voters.includes(to)) return this.refuse('unknown_node');
    if (this.transferee === to) return { ok: true };
    this.transferee = to;
    // The transfer must finish within an election timeout (counted by electionElapsed).
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.sendAppend(to);
    return { ok: true };
  }

  // -------------------------------------------------------------------------------------------
  // Ready / advance
  // -------------------------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.msgs.length > 0 || this.readStates.length > 0) return true;
    if (this.role !== this.prevSoft.role || this.lead !== this.prevSoft.leader) return true;
    if (!sameHardState(this.hardState(), this.prevHard)) return true;
    if (this.log.hasPendingSnapshot() || this.log.hasUnstableEntries()) return true;
    return this.log.hasNextCommittedEntries();
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    const hs = this.hardState();
    assert(hs.commit >= this.prevHard.commit, 'commit index went back');
    assert(hs.term >= this.prevHard.term, 'term went back');
    const softChanged = this.role !== this.prevSoft.role || this.lead !== this.prevSoft.leader;
    const hardChanged = !sameHardState(hs, this.prevHard);
    const voteChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
    const entries = this.log.unstableEntries();
    const snapshot = this.log.pendingSnapshot();
    const committedEntries = this.log.nextCommittedEntries(this.cfg.maxApplyEntries, Infinity);
    if (committedEntries.length > 0) {
      this.log.applying = committedEntries[committedEntries.length - 1].index;
    }
    const messages = this.msgs;
    const readStates = this.readStates;
    this.msgs = [];
    this.readStates = [];
    this.readyOutstanding = true;
    return {
      softState: softChanged ? { role: this.role, leader: this.lead } : null,
      hardState: hardChanged ? hs : null,
      entries,
      snapshot,
      committedEntries,
      messages,
      readStates,
      mustSync: entries.length > 0 || snapshot !== null || voteChanged,
      voteChanged,
      sendBeforePersist:
        this.role === 'leader' &&
        this.prevSoft.role === 'leader' &&
        !voteChanged &&
        snapshot === null,
    };
  }

  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without ready()');
    this.readyOutstanding = false;
    if (rd.softState !== null) this.prevSoft = rd.softState;
    if (rd.hardState !== null) this.prevHard = rd.hardState;
    if (rd.snapshot !== null) {
      this.log.stableSnapTo(rd.snapshot.meta.index);
      this.log.snapshotApplied(rd.snapshot.meta.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
      // The leader's own copy now counts toward the quorum.
      if (this.role === 'leader' && this.maybeCommit()) this.bcastAppend();
    }
    for (const e of rd.committedEntries) {
      this.log.appliedTo(e.index);
      if (e.type === 'conf') this.applyConfEntry(e);
    }
  }

  isLeader(): boolean {
    return this.role === 'leader';
  }

  /** Term of the entry at `index` in this node's log (persisted or not), or null. */
  logTerm(index: Index): Term | null {
    return this.log.term(index);
  }

  status(): Status {
    // Hosts poll status often; a follower's (empty) progress is one shared map, not a new one.
    let progress: ReadonlyMap<NodeId, Progress> = NO_PROGRESS;
    if (this.role === 'leader') {
      const leading = new Map<NodeId, Progress>();
      progress = leading;
      for (const [id, pr] of this.progress) {
        leading.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          inflight: pr.inflightLength(),
          learner: pr.learner,
          recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: this.id,
      role: this.role,
      leader: this.lead,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      conf: this.conf,
      progress,
      transferee: this.transferee,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Roles
  // -------------------------------------------------------------------------------------------

  private reset(term: Term): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
      this.leaderOfTerm = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.transferee = null;
    this.votes.clear();
    this.progress.clear();
    this.pendingReads.clear();
    this.pendingConfIndex = 0;
  }

  private becomeFollower(term: Term, lead: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    if (lead !== null) this.setLeader(lead);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote: a node that cannot win disturbs no one.
    this.role = 'preCandidate';
    this.lead = null;
    this.votes.clear();
    this.resetRandomizedElectionTimeout();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    // The messages below are built only on failure: these checks run on every message.
    if (this.leaderOfTerm !== null && this.leaderOfTerm !== this.id) {
      throw new RaftInvariantViolation(
        `two leaders in term ${this.term}: ${this.leaderOfTerm} and ${this.id}`,
      );
    }
    this.reset(this.term);
    this.role = 'leader';
    this.setLeader(this.id);
    const next = this.log.lastIndex() + 1;
    for (const v of this.conf.voters) {
      if (v !== this.id)
        this.progress.set(v, new FollowerProgress(next, this.cfg.maxInflightAppends, false));
    }
    for (const l of this.conf.learners) {
      if (l !== this.id)
        this.progress.set(l, new FollowerProgress(next, this.cfg.maxInflightAppends, true));
    }
    // The no-op of the new term: once it commits, everything before it is known committed.
    this.pendingConfIndex = this.appendEntry('normal', NO_OP);
  }

  private setLeader(lead: NodeId): void {
    if (this.leaderOfTerm !== null && this.leaderOfTerm !== lead) {
      throw new RaftInvariantViolation(
        `two leaders in term ${this.term}: ${this.leaderOfTerm} and ${lead}`,
      );
    }
    this.leaderOfTerm = lead;
    this.lead = lead;
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.cfg.random();
    this.randomizedElectionTimeout =
      this.cfg.electionTicks +
      Math.floor(Math.min(Math.max(r, 0), 0.999999) * this.cfg.electionTicks);
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.transferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(null);
    }
  }

  /** Check quorum: a quorum of voters was heard from since the last round (then resets). */
  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.conf.voters) {
      if (v === this.id) active++;
      else if (this.progress.get(v)?.recentActive === true) active++;
    }
    for (const pr of this.progress.values()) pr.recentActive = false;
    return active >= majority(this.conf.voters.length);
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    // Membership changes take effect when applied: campaigning before applying a committed one
    // could count votes against the wrong configuration.
    if (this.hasUnappliedConfChanges()) return;
    if (this.cfg.preVote && !transfer) this.runElection(true, false);
    else this.runElection(false, transfer);
  }

  private runElection(pre: boolean, transfer: boolean): void {
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = pre ? this.term + 1 : this.term;
    if (this.poll(this.id, true) === 'won') {
      this.electionWon(pre);
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const v of this.conf.voters) {
      if (v === this.id) continue;
      this.send({ type: 'vote', to: v, term: voteTerm, pre, lastIndex, lastTerm, transfer });
    }
  }

  private electionWon(pre: boolean): void {
    if (pre) this.runElection(false, false);
    else this.becomeLeader();
  }

  private poll(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (this.conf.voters.includes(from) && !this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const g of this.votes.values()) {
      if (g) yes++;
      else no++;
    }
    const q = majority(this.conf.voters.length);
    if (yes >= q) return 'won';
    if (no > this.conf.voters.length - q) return 'lost';
    return 'pending';
  }

  private handleVote(m: VoteMessage): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.lead === null) ||
      (m.pre && m.term > this.term);
    const upToDate =
      this.log.isUpToDate(m.lastIndex, m.lastTerm) || this.cfg.bugs.has('stale-vote');
    // An empty log (not even the bootstrap snapshot) has never held anything: it is a node
    // still joining, or one that lost its disk and reuses its id. Its vote could complete a
    // majority of a stale configuration that no longer holds a committed entry.
    const holdsState = this.log.lastIndex() > 0;
    if (canVote && upToDate && holdsState) {
      this.send({ type: 'voteResp', to: m.from, term: m.term, pre: m.pre, granted: true });
      if (!m.pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: 'voteResp', to: m.from, pre: m.pre, granted: false });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.setLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.setLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.setLeader(m.from);
        this.handleSnapshotChunk(m);
        return;
      case 'timeoutNow':
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Someone won this term.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'voteResp': {
        if (m.pre !== (this.role === 'preCandidate')) return;
        const result = this.poll(m.from, m.granted);
        if (result === 'won') this.electionWon(m.pre);
        else if (result === 'lost') this.becomeFollower(this.term, null);
        return;
      }
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appendResp':
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        pr.recentActive = true;
        this.handleHeartbeatResponse(m, pr);
        return;
      case 'snapshotResp':
        pr.recentActive = true;
        this.handleSnapshotResponse(m, pr);
        return;
      default:
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Follower side of replication
  // -------------------------------------------------------------------------------------------

  private handleAppend(m: AppendMessage): void {
    if (m.prevIndex < this.log.committed) {
      this.send({
        type: 'appendResp',
        to: m.from,
        reject: false,
        index: this.log.committed,
        hintIndex: 0,
        hintTerm: 0,
      });
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send({
        type: 'appendResp',
        to: m.from,
        reject: false,
        index: lastNew,
        hintIndex: 0,
        hintTerm: 0,
      });
      return;
    }
    // Fast backtracking: point the leader at our last entry whose term is <= prevTerm.
    const hintIndex = this.log.findConflictByTerm(
      Math.min(m.prevIndex, this.log.lastIndex()),
      m.prevTerm,
    );
    const hintTerm = this.log.term(hintIndex) ?? 0;
    this.send({
      type: 'appendResp',
      to: m.from,
      reject: true,
      index: m.prevIndex,
      hintIndex,
      hintTerm,
    });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    // The leader caps `commit` at what it knows we hold.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', to: m.from, ctx: m.ctx });
  }

  private handleSnapshotChunk(m: SnapshotChunkMessage): void {
    const reply = (offset: number, reject: boolean): void =>
      this.send({ type: 'snapshotResp', to: m.from, index: m.meta.index, offset, reject });
    if (m.meta.index <= this.log.committed) {
      this.incomingSnapshot = null;
      reply(m.total, false);
      return;
    }
    if (m.total > MAX_SNAPSHOT_BYTES) {
      reply(0, true);
      return;
    }
    let inc = this.incomingSnapshot;
    if (
      inc === null ||
      inc.meta.index !== m.meta.index ||
      inc.meta.term !== m.meta.term ||
      inc.buffer.length !== m.total
    ) {
      if (m.offset !== 0) {
        reply(0, false);
        return;
      }
      inc = { meta: m.meta, buffer: new Uint8Array(m.total), received: 0 };
      this.incomingSnapshot = inc;
    }
    if (m.offset !== inc.received) {
      // A duplicate or a gap: say which byte we want next.
      reply(inc.received, false);
      return;
    }
    inc.buffer.set(m.data, m.offset);
    inc.received += m.data.length;
    if (inc.received < m.total) {
      reply(inc.received, false);
      return;
    }
    this.incomingSnapshot = null;
    const { meta } = inc;
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already hold the entries it covers: just move the commit index.
      this.log.commitTo(meta.index);
    } else {
      this.log.restore({ meta, data: inc.buffer });
      this.conf = meta.conf;
    }
    reply(m.total, false);
  }

  // -------------------------------------------------------------------------------------------
  // Leader side of replication
  // -------------------------------------------------------------------------------------------

  private appendEntry(type: 'normal' | 'conf', data: Uint8Array): Index {
    const index = this.log.lastIndex() + 1;
    this.log.append([{ index, term: this.term, type, data }]);
    this.maybeCommit();
    this.bcastAppend();
    return index;
  }

  private refuseProposal(): ProposeResult | null {
    if (this.role !== 'leader') return this.refuse('not_leader');
    if (this.transferee !== null) return this.refuse('transferring');
    if (this.log.lastIndex() - this.log.committed >= this.cfg.maxUncommittedEntries) {
      return this.refuse('overloaded');
    }
    return null;
  }

  private refuse(code: RaftErrorCode): { ok: false; code: RaftErrorCode; leader: NodeId | null } {
    return { ok: false, code, leader: this.lead };
  }

  private committedInOwnTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /**
   * Figure 8: the leader advances commit only to an entry of its own term that a majority
   * holds; earlier entries commit with it. (The old-term-commit bug drops the term check.)
   */
  private maybeCommit(): boolean {
    // The leader counts its own entries only once persisted: its messages may leave first.
    // Runs on every append response: one scratch array instead of a map and a sort closure each.
    const voters = this.conf.voters;
    if (voters.length === 0) return false;
    const matches = this.commitScratch;
    matches.length = voters.length;
    for (let i = 0; i < voters.length; i++) {
      const v = voters[i];
      matches[i] = v === this.id ? this.log.stableLastIndex() : (this.progress.get(v)?.match ?? 0);
    }
    // Insertion sort, descending: a handful of voters, and Array.sort's setup costs more.
    for (let i = 1; i < matches.length; i++) {
      const m = matches[i];
      let j = i - 1;
      while (j >= 0 && matches[j] < m) {
        matches[j + 1] = matches[j];
        j--;
      }
      matches[j + 1] = m;
    }
    const index = matches[majority(matches.length) - 1];
    if (index <= this.log.committed) return false;
    if (this.log.term(index) !== this.term && !this.cfg.bugs.has('old-term-commit')) return false;
    this.log.commitTo(index);
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx: string | null): void {
    for (const [id, pr] of this.progress) {
      this.send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.log.committed), ctx });
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === null || pr.next < this.log.firstIndex()) {
      pr.becomeSnapshot(this.log.snapshot());
      this.sendSnapshotChunk(to, pr);
      return true;
    }
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.maxAppendBytes);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', to, prevIndex, prevTerm, entries, commit: this.log.committed });
    if (entries.length > 0) pr.sentEntries(entries[entries.length - 1].index);
    else if (pr.state === 'probe') pr.probeSent = true;
    return true;
  }

  private sendSnapshotChunk(to: NodeId, pr: FollowerProgress): void {
    const snap = pr.snapshot;
    assert(snap !== null, 'sendSnapshotChunk without a snapshot');
    const total = snap.data.length;
    const offset = pr.snapshotOffset;
    const end = Math.min(total, offset + this.cfg.snapshotChunkBytes);
    this.send({
      type: 'snapshot',
      to,
      meta: snap.meta,
      offset,
      total,
      data: snap.data.subarray(offset, end),
    });
    pr.snapshotSent = true;
    pr.snapshotStall = 0;
  }

  private handleAppendResponse(m: AppendResponse, pr: FollowerProgress): void {
    if (m.reject) {
      let hint = m.hintIndex;
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.hintIndex, m.hintTerm);
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.freeLE(m.index);
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // Stream what is left, up to the inflight bound.
    while (this.maybeSendAppend(m.from, false)) {}
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from });
    }
  }

  private handleHeartbeatResponse(m: HeartbeatResponse, pr: FollowerProgress): void {
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.isPaused()) pr.freeFirstOne();
    if (pr.state === 'snapshot') {
      // A lost chunk or acknowledgement: resend after a few quiet heartbeats.
      pr.snapshotStall++;
      if (pr.snapshotStall >= SNAPSHOT_RESEND_AFTER) this.sendSnapshotChunk(m.from, pr);
    } else if (pr.match < this.log.lastIndex()) {
      this.sendAppend(m.from);
    }
    if (m.ctx !== null) this.ackRead(m.ctx, m.from);
  }

  private handleSnapshotResponse(m: SnapshotChunkResponse, pr: FollowerProgress): void {
    if (pr.state !== 'snapshot' || pr.snapshot === null || pr.snapshot.meta.index !== m.index)
      return;
    if (m.reject) {
      pr.becomeProbe();
      this.sendAppend(m.from);
      return;
    }
    if (m.offset >= pr.snapshot.data.length) {
      pr.maybeUpdate(m.index);
      pr.becomeProbe();
      this.sendAppend(m.from);
      return;
    }
    pr.snapshotOffset = m.offset;
    this.sendSnapshotChunk(m.from, pr);
  }

  // -------------------------------------------------------------------------------------------
  // ReadIndex
  // -------------------------------------------------------------------------------------------

  private ackRead(ctx: string, from: NodeId): void {
    if (!this.conf.voters.includes(from)) return;
    const quorum = majority(this.conf.voters.length);
    for (const rs of this.pendingReads.ack(ctx, from, quorum)) this.readStates.push(rs);
  }

  // -------------------------------------------------------------------------------------------
  // Membership
  // -------------------------------------------------------------------------------------------

  private hasUnappliedConfChanges(): boolean {
    let lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const hi = this.log.committed + 1;
    while (lo < hi) {
      const page = this.log.slice(lo, Math.min(hi, lo + 1024), Infinity);
      for (const e of page) if (e.type === 'conf') return true;
      lo += page.length;
    }
    return false;
  }

  private applyConfEntry(e: Entry): void {
    const change = decodeConfChange(e.data);
    this.conf = applyConfChange(this.conf, change);
    if (this.role !== 'leader') return;
    const next = this.log.lastIndex() + 1;
    for (const id of [...this.progress.keys()]) {
      if (!this.conf.voters.includes(id) && !this.conf.learners.includes(id))
        this.progress.delete(id);
    }
    for (const v of this.conf.voters) {
      if (v === this.id) continue;
      const pr = this.progress.get(v);
      if (pr === undefined)
        this.progress.set(v, new FollowerProgress(next, this.cfg.maxInflightAppends, false));
      else pr.learner = false;
    }
    for (const l of this.conf.learners) {
      if (l !== this.id && !this.progress.has(l)) {
        this.progress.set(l, new FollowerProgress(next, this.cfg.maxInflightAppends, true));
      }
    }
    if (!this.conf.voters.includes(this.id)) {
      // A removed leader steps down, first asking its most up-to-date voter to take over.
      let best: NodeId | null = null;
      let bestMatch = -1;
      for (const v of this.conf.voters) {
        const pr = this.progress.get(v);
        if (pr !== undefined && pr.match > bestMatch) {
          best = v;
          bestMatch = pr.match;
        }
      }
      if (best !== null && bestMatch === this.log.lastIndex())
        this.send({ type: 'timeoutNow', to: best });
      this.becomeFollower(this.term, null);
      return;
    }
    if (this.transferee !== null && !this.conf.voters.includes(this.transferee))
      this.transferee = null;
    // Removing a voter can lower the quorum enough to commit what is pending.
    if (this.maybeCommit()) this.bcastAppend();
  }

  // -------------------------------------------------------------------------------------------

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private send(m: Outgoing): void {
    // Completes the caller's fresh literal in place: a spread copy per message was a hot spot.
    const msg = m as { from?: NodeId; term?: Term };
    msg.from = this.id;
    if (msg.term === undefined) msg.term = this.term;
    this.msgs.push(m as Message);
  }
}

function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

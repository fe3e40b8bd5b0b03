import type { ConfChange, ConfState, Status } from '../../raft/index.js';
import type { ClusterState } from './cluster-state.js';

/**
 * Which Raft membership change the metadata leader should make next so that the group follows
 * the cluster: every member is in the group (learners by default); up to `voterTarget` normal
 * nodes are voters; a voter that is leaving or gone is replaced by a caught-up learner first and
 * removed after, so the group never shrinks below its target while a replacement exists.
 * Pure: one change at a time (Raft allows one uncommitted change), or null when nothing to do.
 */
export function nextConfChange(state: ClusterState, status: Status): ConfChange | null {
  const conf: ConfState = status.conf;
  const inGroup = new Set([...conf.voters, ...conf.learners]);
  const members = Object.values(state.nodes).filter((n) => n.state !== 'left');
  const memberIds = new Set(members.map((n) => n.id));
  const sortedMembers = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  // 1. New members enter as learners (they get the log and the snapshot, never vote).
  for (const n of sortedMembers) {
    if (!inGroup.has(n.id)) return { type: 'addLearner', node: n.id, context: n.peerAddress };
  }
  // 2. Learners that are no longer members go.
  for (const id of [...conf.learners].sort()) {
    if (!memberIds.has(id)) return { type: 'removeNode', node: id, context: '' };
  }
  const eligible = (id: string) => state.nodes[id]?.state === 'normal';
  const goodVoters = conf.voters.filter(eligible);
  const want = Math.min(
    state.voterTarget,
    Math.max(1, members.filter((n) => n.state === 'normal').length),
  );
  // 3. Too few good voters: promote the most caught-up normal learner.
  if (goodVoters.length < want) {
    let best: string | null = null;
    let bestMatch = -1;
    for (const id of [...conf.learners].sort()) {
      if (!eligible(id)) continue;
      const match = status.progress.get(id)?.match ?? -1;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    // Raft refuses a learner that has not reached the commit index; wait for it.
    if (best !== null && bestMatch >= status.commit)
      return { type: 'addVoter', node: best, context: '' };
  }
  // 4. Voters that are leaving or gone: removed once the good voters suffice without them, or
  //    at once when the node has left (it is shutting down and can no longer vote).
  for (const id of [...conf.voters].sort()) {
    if (eligible(id)) continue;
    const gone = !memberIds.has(id);
    if (gone || goodVoters.length >= want) {
      if (conf.voters.length > 1) return { type: 'removeNode', node: id, context: '' };
    }
  }
  // 5. More good voters than the target (the target was lowered): demote is not supported by
  //    Raft here, so the extra voters stay; nothing else to do.
  return null;
}

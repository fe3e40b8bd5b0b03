import { assert } from './assert.js';
import type { ConfChange, ConfChangeType, ConfState, NodeId } from './types.js';

/**
 * Membership changes: their encoding in `conf` log entries and their effect on a ConfState.
 * Changes go one server at a time; at most one is unapplied (the leader enforces it).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TYPES: ReadonlySet<ConfChangeType> = new Set<ConfChangeType>([
  'addLearner',
  'addVoter',
  'removeNode',
]);

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify([change.type, change.node, change.context]));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  assert(
    Array.isArray(parsed) &&
      parsed.length === 3 &&
      TYPES.has(parsed[0]) &&
      typeof parsed[1] === 'string' &&
      typeof parsed[2] === 'string',
    'decodeConfChange: malformed conf change entry',
  );
  return { type: parsed[0], node: parsed[1], context: parsed[2] };
}

export function isVoter(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id);
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/** Why a change cannot apply to `conf`, or null when it can. */
export function confChangeProblem(conf: ConfState, change: ConfChange): string | null {
  switch (change.type) {
    case 'addLearner':
      if (isMember(conf, change.node)) return `${change.node} is already a member`;
      return null;
    case 'addVoter':
      // New voters catch up as learners first: only a learner can be promoted.
      if (isVoter(conf, change.node)) return `${change.node} is already a voter`;
      if (!conf.learners.includes(change.node))
        return `${change.node} must join as a learner before it becomes a voter`;
      return null;
    case 'removeNode':
      if (!isMember(conf, change.node)) return `${change.node} is not a member`;
      if (conf.voters.length === 1 && conf.voters[0] === change.node)
        return 'cannot remove the last voter';
      return null;
  }
}

/**
 * The membership after `change`. A change that does not fit (it was valid when proposed but an
 * earlier one changed things) leaves `conf` as it is, identically on every node.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  if (confChangeProblem(conf, change) !== null) return conf;
  const voters = conf.voters.filter((v) => v !== change.node);
  const learners = conf.learners.filter((l) => l !== change.node);
  if (change.type === 'addLearner') learners.push(change.node);
  else if (change.type === 'addVoter') voters.push(change.node);
  voters.sort();
  learners.sort();
  return { voters, learners };
}

export function sameConf(a: ConfState, b: ConfState): boolean {
  return (
    a.voters.length === b.voters.length &&
    a.learners.length === b.learners.length &&
    a.voters.every((v, i) => v === b.voters[i]) &&
    a.learners.every((l, i) => l === b.learners[i])
  );
}

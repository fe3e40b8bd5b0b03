import type { Entry, Message, SnapshotMeta } from './types.js';

/**
 * The shape check the core runs on every message before stepping it: messages come off the
 * network (decoded by msgpackr), and a malformed one is dropped rather than allowed to throw
 * inside the state machine.
 */
const isIndex = (x: unknown): x is number =>
  typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

const isBytes = (x: unknown): x is Uint8Array => x instanceof Uint8Array;

function isEntry(x: unknown): x is Entry {
  if (typeof x !== 'object' || x === null) return false;
  const e = x as Record<string, unknown>;
  return (
    isIndex(e.index) &&
    isIndex(e.term) &&
    (e.type === 'normal' || e.type === 'conf') &&
    isBytes(e.data)
  );
}

function isIdList(x: unknown): boolean {
  return Array.isArray(x) && x.every((v) => typeof v === 'string');
}

function isSnapshotMeta(x: unknown): x is SnapshotMeta {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  const conf = m.conf as Record<string, unknown> | null | undefined;
  return (
    isIndex(m.index) &&
    isIndex(m.term) &&
    typeof conf === 'object' &&
    conf !== null &&
    isIdList(conf.voters) &&
    isIdList(conf.learners)
  );
}

export function isWellFormedMessage(x: unknown): x is Message {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  if (typeof m.from !== 'string' || typeof m.to !== 'string' || !isIndex(m.term)) return false;
  switch (m.type) {
    case 'append':
      return (
        isIndex(m.prevIndex) &&
        isIndex(m.prevTerm) &&
        isIndex(m.commit) &&
        Array.isArray(m.entries) &&
        m.entries.every(isEntry)
      );
    case 'appendResp':
      return (
        typeof m.reject === 'boolean' &&
        isIndex(m.index) &&
        isIndex(m.hintIndex) &&
        isIndex(m.hintTerm)
      );
    case 'vote':
      return (
        typeof m.pre === 'boolean' &&
        isIndex(m.lastIndex) &&
        isIndex(m.lastTerm) &&
        typeof m.transfer === 'boolean'
      );
    case 'voteResp':
      return typeof m.pre === 'boolean' && typeof m.granted === 'boolean';
    case 'heartbeat':
      return isIndex(m.commit) && (m.ctx === null || typeof m.ctx === 'string');
    case 'heartbeatResp':
      return m.ctx === null || typeof m.ctx === 'string';
    case 'snapshot':
      return (
        isSnapshotMeta(m.meta) &&
        isIndex(m.offset) &&
        isIndex(m.total) &&
        isBytes(m.data) &&
        m.offset + m.data.length <= m.total
      );
    case 'snapshotResp':
      return isIndex(m.index) && isIndex(m.offset) && typeof m.reject === 'boolean';
    case 'timeoutNow':
      return true;
    default:
      return false;
  }
}

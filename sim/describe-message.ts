import type { Message } from '../raft/types.js';

/**
 * The canonical one-line form of a Raft message in the trace: enough to tell two runs apart
 * (type, endpoints, term, indexes, entry count), without serialising entry payloads.
 */
export function describeMessage(m: Message): string {
  const head = `${m.from}>${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'append':
      return `${head} p${m.prevIndex}/${m.prevTerm} n${m.entries.length} c${m.commit}`;
    case 'appendResp':
      return `${head} ${m.reject ? 'reject' : 'ok'} i${m.index} h${m.hintIndex}/${m.hintTerm}`;
    case 'vote':
      return `${head}${m.pre ? ' pre' : ''}${m.transfer ? ' transfer' : ''} l${m.lastIndex}/${m.lastTerm}`;
    case 'voteResp':
      return `${head}${m.pre ? ' pre' : ''} ${m.granted ? 'granted' : 'refused'}`;
    case 'heartbeat':
      return `${head} c${m.commit}${m.ctx === null ? '' : ` ctx=${m.ctx}`}`;
    case 'heartbeatResp':
      return m.ctx === null ? head : `${head} ctx=${m.ctx}`;
    case 'snapshot':
      return `${head} s${m.meta.index}/${m.meta.term} ${m.offset}+${m.data.length}/${m.total}`;
    case 'snapshotResp':
      return `${head} i${m.index} o${m.offset}${m.reject ? ' reject' : ''}`;
    case 'timeoutNow':
      return head;
  }
}

/** Message types as numbers for `encodeMessage`. */
const TYPE_CODES: Record<Message['type'], number> = {
  append: 1,
  appendResp: 2,
  vote: 3,
  voteResp: 4,
  heartbeat: 5,
  heartbeatResp: 6,
  snapshot: 7,
  snapshotResp: 8,
  timeoutNow: 9,
};

/**
 * The numeric form of `describeMessage` for the trace hash (a `PacketEncoder`): the same
 * fields, as numbers, from `o`; returns the offset after them. A heartbeat or response that
 * carries a ReadIndex context (a string) returns -1 and is traced by its line instead.
 */
export function encodeMessage(m: Message, out: Int32Array, o: number): number {
  out[o++] = TYPE_CODES[m.type];
  out[o++] = m.term;
  switch (m.type) {
    case 'append':
      out[o++] = m.prevIndex;
      out[o++] = m.prevTerm;
      out[o++] = m.entries.length;
      out[o++] = m.commit;
      return o;
    case 'appendResp':
      out[o++] = m.reject ? 1 : 0;
      out[o++] = m.index;
      out[o++] = m.hintIndex;
      out[o++] = m.hintTerm;
      return o;
    case 'vote':
      out[o++] = m.pre ? 1 : 0;
      out[o++] = m.transfer ? 1 : 0;
      out[o++] = m.lastIndex;
      out[o++] = m.lastTerm;
      return o;
    case 'voteResp':
      out[o++] = m.pre ? 1 : 0;
      out[o++] = m.granted ? 1 : 0;
      return o;
    case 'heartbeat':
      if (m.ctx !== null) return -1;
      out[o++] = m.commit;
      return o;
    case 'heartbeatResp':
      return m.ctx === null ? o : -1;
    case 'snapshot':
      out[o++] = m.meta.index;
      out[o++] = m.meta.term;
      out[o++] = m.offset;
      out[o++] = m.data.length;
      out[o++] = m.total;
      return o;
    case 'snapshotResp':
      out[o++] = m.index;
      out[o++] = m.offset;
      out[o++] = m.reject ? 1 : 0;
      return o;
    case 'timeoutNow':
      return o;
  }
}

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

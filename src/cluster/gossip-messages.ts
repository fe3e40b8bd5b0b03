/**
 * Gossip's wire format. Everything that arrives from a peer is `unknown` until a decoder here
 * has checked its shape and bounds; a malformed or oversized message decodes to `null` and is
 * dropped (counted by the caller), never thrown into the transport.
 *
 * A member record travels as a tuple, [id, incarnation, liveness, epoch, peerAddress,
 * httpAddress, from], which keeps piggybacked updates small under msgpack.
 */
export type Liveness = 'alive' | 'suspect' | 'dead';

/** One member's state as a node knows it: what dissemination and full-state exchange carry. */
export interface MemberRecord {
  readonly id: string;
  readonly incarnation: number;
  readonly liveness: Liveness;
  /** The member's metadata epoch (the last Raft-applied ClusterState it reported). */
  readonly epoch: number;
  readonly peerAddress: string;
  readonly httpAddress: string;
  /** Who declared the member suspect or dead ('' for alive): counts for suspicion confirmations. */
  readonly from: string;
}

export const GOSSIP_CHANNELS = {
  ping: 'gossip.ping',
  ack: 'gossip.ack',
  nack: 'gossip.nack',
  pingReq: 'gossip.ping-req',
  updates: 'gossip.updates',
  sync: 'gossip.sync',
} as const;

/** Longest node id and address accepted from the wire. */
export const MAX_ID_LENGTH = 128;
export const MAX_ADDRESS_LENGTH = 256;

/** A direct probe; `target` lets a node refuse a ping meant for a previous owner of its address. */
export interface PingMessage {
  readonly seq: number;
  readonly target: string;
  readonly updates: MemberRecord[];
}

export interface AckMessage {
  readonly seq: number;
  readonly updates: MemberRecord[];
}

/** Lifeguard's negative ack: the relay could not reach the target in time, but it is alive. */
export interface NackMessage {
  readonly seq: number;
}

/** Ask the receiver to probe `target` on our behalf and answer within `windowMs`. */
export interface PingReqMessage {
  readonly seq: number;
  readonly target: string;
  readonly windowMs: number;
  readonly updates: MemberRecord[];
}

export interface UpdatesMessage {
  readonly updates: MemberRecord[];
}

/** Full-state exchange (push-pull): the sender's whole member table; `reply` asks for ours. */
export interface SyncMessage {
  readonly reply: boolean;
  readonly members: MemberRecord[];
}

const LIVENESS_CODE: Record<Liveness, number> = { alive: 0, suspect: 1, dead: 2 };
const LIVENESS_OF: readonly Liveness[] = ['alive', 'suspect', 'dead'];

type WireRecord = [string, number, number, number, string, string, string];

export function encodeRecord(r: MemberRecord): WireRecord {
  return [
    r.id,
    r.incarnation,
    LIVENESS_CODE[r.liveness],
    r.epoch,
    r.peerAddress,
    r.httpAddress,
    r.from,
  ];
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isBoundedString(v: unknown, max: number, allowEmpty: boolean): v is string {
  return typeof v === 'string' && v.length <= max && (allowEmpty || v.length > 0);
}

export function decodeRecord(v: unknown): MemberRecord | null {
  if (!Array.isArray(v) || v.length !== 7) return null;
  const [id, incarnation, code, epoch, peerAddress, httpAddress, from] = v;
  if (!isBoundedString(id, MAX_ID_LENGTH, false)) return null;
  if (!isCount(incarnation) || !isCount(epoch)) return null;
  if (code !== 0 && code !== 1 && code !== 2) return null;
  if (!isBoundedString(peerAddress, MAX_ADDRESS_LENGTH, true)) return null;
  if (!isBoundedString(httpAddress, MAX_ADDRESS_LENGTH, true)) return null;
  if (!isBoundedString(from, MAX_ID_LENGTH, true)) return null;
  return { id, incarnation, liveness: LIVENESS_OF[code], epoch, peerAddress, httpAddress, from };
}

/** Decodes a list of records; null when it is not a list, too long, or any record is bad. */
function decodeRecords(v: unknown, maxRecords: number): MemberRecord[] | null {
  if (!Array.isArray(v) || v.length > maxRecords) return null;
  const out: MemberRecord[] = [];
  for (const item of v) {
    const r = decodeRecord(item);
    if (r === null) return null;
    out.push(r);
  }
  return out;
}

function asObject(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : null;
}

export function encodePing(m: PingMessage): unknown {
  return { s: m.seq, t: m.target, u: m.updates.map(encodeRecord) };
}

export function decodePing(v: unknown, maxRecords: number): PingMessage | null {
  const o = asObject(v);
  if (o === null || !isCount(o.s) || !isBoundedString(o.t, MAX_ID_LENGTH, false)) return null;
  const updates = decodeRecords(o.u, maxRecords);
  return updates === null ? null : { seq: o.s, target: o.t, updates };
}

export function encodeAck(m: AckMessage): unknown {
  return { s: m.seq, u: m.updates.map(encodeRecord) };
}

export function decodeAck(v: unknown, maxRecords: number): AckMessage | null {
  const o = asObject(v);
  if (o === null || !isCount(o.s)) return null;
  const updates = decodeRecords(o.u, maxRecords);
  return updates === null ? null : { seq: o.s, updates };
}

export function encodeNack(m: NackMessage): unknown {
  return { s: m.seq };
}

export function decodeNack(v: unknown): NackMessage | null {
  const o = asObject(v);
  return o === null || !isCount(o.s) ? null : { seq: o.s };
}

export function encodePingReq(m: PingReqMessage): unknown {
  return { s: m.seq, t: m.target, w: m.windowMs, u: m.updates.map(encodeRecord) };
}

export function decodePingReq(v: unknown, maxRecords: number): PingReqMessage | null {
  const o = asObject(v);
  if (o === null || !isCount(o.s) || !isBoundedString(o.t, MAX_ID_LENGTH, false)) return null;
  if (!isCount(o.w)) return null;
  const updates = decodeRecords(o.u, maxRecords);
  return updates === null ? null : { seq: o.s, target: o.t, windowMs: o.w, updates };
}

export function encodeUpdates(m: UpdatesMessage): unknown {
  return { u: m.updates.map(encodeRecord) };
}

export function decodeUpdates(v: unknown, maxRecords: number): UpdatesMessage | null {
  const o = asObject(v);
  if (o === null) return null;
  const updates = decodeRecords(o.u, maxRecords);
  return updates === null ? null : { updates };
}

export function encodeSync(m: SyncMessage): unknown {
  return { r: m.reply ? 1 : 0, m: m.members.map(encodeRecord) };
}

export function decodeSync(v: unknown, maxRecords: number): SyncMessage | null {
  const o = asObject(v);
  if (o === null || (o.r !== 0 && o.r !== 1)) return null;
  const members = decodeRecords(o.m, maxRecords);
  return members === null ? null : { reply: o.r === 1, members };
}

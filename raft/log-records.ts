import { crc32 } from './crc32.js';
import type { Entry, HardState, Index, SnapshotMeta, Term } from './types.js';

/**
 * The record format of the file log store's segments. Each record is
 *   [u32 payload length][u32 CRC-32 of payload][payload]
 * and a payload starts with its kind:
 *   1 entry:      f64 index, f64 term, u8 type (0 normal, 1 conf), data
 *   2 hard state: f64 term, f64 commit, u8 has-vote, utf8 vote
 *   3 log base:   f64 index, f64 term (the log restarts after this snapshot point)
 * Numbers are little-endian; indexes and terms are integers below 2^53, stored as f64.
 */
export const RECORD_HEADER_BYTES = 8;
/** Larger records are treated as corrupt (a torn length field). */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

const KIND_ENTRY = 1;
const KIND_HARD_STATE = 2;
const KIND_BASE = 3;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type LogRecord =
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'base'; readonly index: Index; readonly term: Term };

/** Appends records into one growable buffer, so a save is one write and one fsync. */
export class RecordWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  get length(): number {
    return this.len;
  }

  entry(e: Entry): void {
    const at = this.begin(1 + 8 + 8 + 1 + e.data.length);
    this.buf[at] = KIND_ENTRY;
    this.view.setFloat64(at + 1, e.index, true);
    this.view.setFloat64(at + 9, e.term, true);
    this.buf[at + 17] = e.type === 'conf' ? 1 : 0;
    this.buf.set(e.data, at + 18);
    this.end(at);
  }

  hardState(hs: HardState): void {
    const vote = hs.vote === null ? new Uint8Array(0) : encoder.encode(hs.vote);
    const at = this.begin(1 + 8 + 8 + 1 + vote.length);
    this.buf[at] = KIND_HARD_STATE;
    this.view.setFloat64(at + 1, hs.term, true);
    this.view.setFloat64(at + 9, hs.commit, true);
    this.buf[at + 17] = hs.vote === null ? 0 : 1;
    this.buf.set(vote, at + 18);
    this.end(at);
  }

  base(meta: Pick<SnapshotMeta, 'index' | 'term'>): void {
    const at = this.begin(1 + 8 + 8);
    this.buf[at] = KIND_BASE;
    this.view.setFloat64(at + 1, meta.index, true);
    this.view.setFloat64(at + 9, meta.term, true);
    this.end(at);
  }

  /** The bytes written so far (a view; copy before reusing the writer). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  reset(): void {
    this.len = 0;
  }

  private payloadLength = 0;

  /** Reserves header + payload; returns the payload offset. */
  private begin(payload: number): number {
    const need = this.len + RECORD_HEADER_BYTES + payload;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.payloadLength = payload;
    return this.len + RECORD_HEADER_BYTES;
  }

  private end(payloadAt: number): void {
    const n = this.payloadLength;
    this.view.setUint32(payloadAt - 8, n, true);
    this.view.setUint32(payloadAt - 4, crc32(this.buf.subarray(payloadAt, payloadAt + n)), true);
    this.len = payloadAt + n;
  }
}

export interface DecodedRecords {
  readonly records: LogRecord[];
  /** Bytes of whole, valid records; anything after is a torn or corrupt tail. */
  readonly validBytes: number;
}

/** Decodes records until the end or the first record that is short or fails its CRC. */
export function decodeRecords(data: Uint8Array): DecodedRecords {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const records: LogRecord[] = [];
  let pos = 0;
  while (pos + RECORD_HEADER_BYTES <= data.length) {
    const n = view.getUint32(pos, true);
    const crc = view.getUint32(pos + 4, true);
    const start = pos + RECORD_HEADER_BYTES;
    if (n < 1 || n > MAX_RECORD_BYTES || start + n > data.length) break;
    const payload = data.subarray(start, start + n);
    if (crc32(payload) !== crc) break;
    const record = decodePayload(payload, view, start);
    if (record === null) break;
    records.push(record);
    pos = start + n;
  }
  return { records, validBytes: pos };
}

function decodePayload(payload: Uint8Array, view: DataView, at: number): LogRecord | null {
  const kind = payload[0];
  if (kind === KIND_ENTRY && payload.length >= 18) {
    return {
      kind: 'entry',
      entry: {
        index: view.getFloat64(at + 1, true),
        term: view.getFloat64(at + 9, true),
        type: payload[17] === 1 ? 'conf' : 'normal',
        data: payload.slice(18),
      },
    };
  }
  if (kind === KIND_HARD_STATE && payload.length >= 18) {
    return {
      kind: 'hardState',
      hardState: {
        term: view.getFloat64(at + 1, true),
        commit: view.getFloat64(at + 9, true),
        vote: payload[17] === 1 ? decoder.decode(payload.subarray(18)) : null,
      },
    };
  }
  if (kind === KIND_BASE && payload.length === 17) {
    return {
      kind: 'base',
      index: view.getFloat64(at + 1, true),
      term: view.getFloat64(at + 9, true),
    };
  }
  return null;
}

import { assert } from '../model/assert.js';
import { crc32 } from './crc32.js';

/**
 * The WAL's on-disk format (docs/wal.md).
 *
 * A segment file `<dir>/00000001` starts with an 8-byte header, "CWAL", a version byte and
 * three zero bytes, followed by records:
 *
 *   u32 LE payload length | u32 LE CRC-32 of (the 4 length bytes ++ payload) | payload
 *
 * The CRC covers the length so a damaged length field is caught, and a run of zero bytes
 * (a preallocated or zero-filled tail) never passes as a record: CRC-32 of 4 zero bytes is not 0.
 */
export const SEGMENT_HEADER_BYTES = 8;
export const RECORD_HEADER_BYTES = 8;
export const WAL_FORMAT_VERSION = 1;
const MAGIC = [0x43, 0x57, 0x41, 0x4c]; // "CWAL"

export function segmentHeader(): Uint8Array {
  const h = new Uint8Array(SEGMENT_HEADER_BYTES);
  h.set(MAGIC, 0);
  h[4] = WAL_FORMAT_VERSION;
  return h;
}

export function isSegmentHeader(b: Uint8Array): boolean {
  if (b.length < SEGMENT_HEADER_BYTES) return false;
  for (let i = 0; i < 4; i++) if (b[i] !== MAGIC[i]) return false;
  return b[4] === WAL_FORMAT_VERSION && b[5] === 0 && b[6] === 0 && b[7] === 0;
}

/** Segment file name: the number zero-padded to 8 digits (wider past 99,999,999). */
export function segmentName(segment: number): string {
  assert(Number.isSafeInteger(segment) && segment >= 1, `bad WAL segment number ${segment}`);
  return String(segment).padStart(8, '0');
}

/** The segment number of a file name, or undefined for files that are not segments. */
export function parseSegmentName(name: string): number | undefined {
  if (!/^\d{8,15}$/.test(name)) return undefined;
  const n = Number(name);
  return n >= 1 ? n : undefined;
}

/** Frames one record: header and a copy of the payload in a new buffer. */
export function encodeRecord(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length, true);
  frame.set(payload, RECORD_HEADER_BYTES);
  view.setUint32(4, recordChecksum(frame, 0, payload.length), true);
  return frame;
}

/** CRC of the length field at `offset` and the `length` payload bytes after the header. */
export function recordChecksum(buf: Uint8Array, offset: number, length: number): number {
  const lenBytes = buf.subarray(offset, offset + 4);
  const start = offset + RECORD_HEADER_BYTES;
  return crc32(buf.subarray(start, start + length), crc32(lenBytes));
}

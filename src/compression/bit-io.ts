import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';

/**
 * Bit-level I/O over Uint8Array, most significant bit first. Everything runs on 32-bit
 * integer operations; fields wider than 32 bits (up to 53, the integers a float64 holds
 * exactly) are split into two halves.
 */

const TWO_POW_32 = 2 ** 32;

const POW2: Float64Array = (() => {
  const p = new Float64Array(54);
  for (let i = 0; i < 54; i++) p[i] = 2 ** i;
  return p;
})();

/** Upper bound on one writer's buffer: far above any chunk (see MAX_CHUNK_POINTS). */
export const MAX_WRITER_BYTES = 256 * 1024 * 1024;

/**
 * How far past the end a reader may peek before the stream counts as cut short (reads there
 * see zero bits); `finish()` checks the exact position.
 */
const OVERRUN_BYTES = 8;

export function corruptData(message: string): CountError {
  return new CountError('corrupt_data', `corrupt chunk: ${message}`);
}

/** Number of bits needed to write v (0 for 0); v an integer in [0, 2^53). */
export function bitLength(v: number): number {
  if (v < TWO_POW_32) return 32 - Math.clz32(v);
  return 64 - Math.clz32(Math.floor(v / TWO_POW_32));
}

export class BitWriter {
  private buf: Uint8Array;
  private len = 0;
  /** Pending bits, the low `accBits` of `acc`; fewer than 8 between calls. */
  private acc = 0;
  private accBits = 0;

  constructor(initialBytes = 1024) {
    this.buf = new Uint8Array(Math.max(16, initialBytes));
  }

  reset(): void {
    this.len = 0;
    this.acc = 0;
    this.accBits = 0;
  }

  get bitLength(): number {
    return this.len * 8 + this.accBits;
  }

  writeBit(bit: number): void {
    this.writeBits(bit, 1);
  }

  /** Writes the low n bits of value (0 <= n <= 32, value an integer in [0, 2^32)). */
  writeBits(value: number, n: number): void {
    if (n > 24) {
      this.writeBits(value >>> 16, n - 16);
      this.writeBits(value & 0xffff, 16);
      return;
    }
    if (n === 0) return;
    const acc = (this.acc << n) | (value & ((1 << n) - 1));
    let bits = this.accBits + n;
    if (bits >= 8) {
      if (this.len + 4 > this.buf.length) this.grow();
      const buf = this.buf;
      let len = this.len;
      do {
        bits -= 8;
        buf[len++] = acc >>> bits; // a Uint8Array store keeps the low 8 bits
      } while (bits >= 8);
      this.len = len;
    }
    this.acc = acc;
    this.accBits = bits;
  }

  /** Writes the low n bits of value (0 <= n <= 53, value an integer in [0, 2^53)). */
  writeBitsLong(value: number, n: number): void {
    if (n <= 32) {
      this.writeBits(value >>> 0, n);
      return;
    }
    this.writeBits(Math.floor(value / TWO_POW_32), n - 32);
    this.writeBits(value >>> 0, 32);
  }

  /** A length-prefixed unsigned integer in [0, 2^53): 6 bits of length, then the bits. */
  writeVarUint(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value < 2 ** 53, 'writeVarUint: not a uint53');
    const n = bitLength(value);
    this.writeBits(n, 6);
    this.writeBitsLong(value, n);
  }

  /** Appends every bit another writer holds. */
  append(other: BitWriter): void {
    for (let i = 0; i < other.len; i++) this.writeBits(other.buf[i], 8);
    this.writeBits(other.acc, other.accBits);
  }

  /** Overwrites an already written whole byte (used to fill in a header field late). */
  patchByte(index: number, value: number): void {
    assert(index < this.len, 'patchByte: byte not written yet');
    this.buf[index] = value;
  }

  /** The bits written so far, padded with zero bits to a whole byte, as a new array. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.len + (this.accBits > 0 ? 1 : 0));
    out.set(this.buf.subarray(0, this.len));
    if (this.accBits > 0) out[this.len] = (this.acc << (8 - this.accBits)) & 0xff;
    return out;
  }

  private grow(): void {
    const size = this.buf.length * 2;
    assert(size <= MAX_WRITER_BYTES, 'BitWriter: buffer limit exceeded');
    const grown = new Uint8Array(size);
    grown.set(this.buf);
    this.buf = grown;
  }
}

/** Zero bytes after the copied stream: a 5-byte peek near the end stays inside the buffer. */
const PAD_BYTES = 16;

/**
 * Reads what BitWriter wrote. The stream is copied into a buffer padded with zero bytes, so
 * every read is a 32-bit peek at the bit position with no per-byte refill loop. Reading a few
 * bytes past the end yields zero bits, further throws corrupt_data; `finish()` checks that a
 * decoder consumed exactly the stream. Every decoding loop is bounded by counts from the
 * header, so corrupt input ends in an error, never in a hang.
 */
export class BitReader {
  private buf = new Uint8Array(1024);
  /** Bit position of the next read. */
  private pos = 0;
  private endBits = 0;
  /** Peeks may start at bytes up to this one (OVERRUN_BYTES past the end). */
  private lastByte = 0;

  /** Reads bytes[byteOffset, byteOffset + byteLength) from now on (a copy of them). */
  reset(bytes: Uint8Array, byteOffset = 0, byteLength = bytes.length - byteOffset): void {
    const n = byteLength;
    assert(
      byteOffset >= 0 && n >= 0 && byteOffset + n <= bytes.length,
      'BitReader.reset: range outside the array',
    );
    if (this.buf.length < n + PAD_BYTES) {
      if (n > MAX_WRITER_BYTES) throw corruptData(`${n} bytes, more than any chunk`);
      this.buf = new Uint8Array(Math.max(n + PAD_BYTES, this.buf.length * 2));
    }
    this.buf.set(bytes.subarray(byteOffset, byteOffset + n));
    this.buf.fill(0, n, n + PAD_BYTES);
    this.pos = 0;
    this.endBits = n * 8;
    this.lastByte = n + OVERRUN_BYTES;
  }

  /** Bits consumed since reset. */
  get bitPosition(): number {
    return this.pos;
  }

  /** The next 32 bits at the bit position, most significant first (not consumed). */
  private peek(): number {
    const p = this.pos;
    const i = p >>> 3;
    if (i > this.lastByte) throw corruptData('stream ends early');
    const b = this.buf;
    const w = (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
    const shift = p & 7;
    return shift === 0 ? w : (w << shift) | (b[i + 4] >>> (8 - shift));
  }

  /** Reads n bits (0 <= n <= 32) as an unsigned integer. */
  readBits(n: number): number {
    if (n === 0) return 0;
    const v = this.peek() >>> (32 - n);
    this.pos += n;
    return v;
  }

  readBit(): number {
    const p = this.pos;
    const i = p >>> 3;
    if (i > this.lastByte) throw corruptData('stream ends early');
    this.pos = p + 1;
    return (this.buf[i] >>> (7 - (p & 7))) & 1;
  }

  /** Reads n bits (0 <= n <= 53) as an unsigned integer. */
  readBitsLong(n: number): number {
    if (n <= 32) return this.readBits(n);
    const hi = this.readBits(n - 32);
    return hi * TWO_POW_32 + this.readBits(32);
  }

  readVarUint(): number {
    const n = this.readBits(6);
    if (n > 53) throw corruptData(`integer field of ${n} bits`);
    return this.readBitsLong(n);
  }

  /**
   * Counts zero bits up to the next one bit and consumes both; stops after `limit` zeros
   * without consuming a one (the escape of a bounded unary code) and returns `limit`.
   */
  readZeroRun(limit: number): number {
    let count = 0;
    for (;;) {
      const z = Math.clz32(this.peek());
      if (count + z >= limit) {
        this.pos += limit - count;
        return limit;
      }
      if (z < 32) {
        this.pos += z + 1;
        return count + z;
      }
      count += 32;
      this.pos += 32;
    }
  }

  /**
   * Reads a Rice code with parameter k (see rice.ts): q zero bits, a one, k low bits; or, after
   * `escapeAfter` zeros, the value raw in rawWidth bits. The common case is one peek.
   */
  readRice(k: number, escapeAfter: number, rawWidth: number): number {
    const w = this.peek();
    const q = Math.clz32(w);
    const used = q + 1 + k;
    if (q < escapeAfter && used <= 32) {
      this.pos += used;
      // k >= 1 here means q + 1 <= 31, so the shift below is in range
      return k === 0 ? q : q * POW2[k] + ((w << (q + 1)) >>> (32 - k));
    }
    const zeros = this.readZeroRun(escapeAfter);
    if (zeros === escapeAfter) return this.readBitsLong(rawWidth);
    return zeros * POW2[k] + this.readBitsLong(k);
  }

  /** Throws unless the stream was consumed up to its last byte, whose padding is zero. */
  finish(): void {
    const rest = this.endBits - this.pos;
    if (rest < 0) throw corruptData('stream is shorter than its contents');
    if (rest >= 8) throw corruptData(`${rest} bits left over after the last point`);
    if (rest > 0 && this.readBits(rest) !== 0) throw corruptData('padding bits are not zero');
  }
}

/**
 * Canonical series keys by the raw bytes of line protocol, shared by all requests of a server,
 * so steady-state ingest (the same series every few seconds) builds no key and allocates no
 * string per line.
 *
 * A series section (`measurement,tag=value...`) is found by a 32-bit FNV-1a hash the parser
 * computes while scanning it, then confirmed byte for byte; a field key inside a section is
 * found by position first (lines of one series list their fields in the same order) and then
 * by a scan of that section's few fields. Bounded: past `maxKeys` keys the cache starts over
 * and the hot set refills within a request or two.
 */
export interface SeriesSection {
  readonly raw: Uint8Array;
  readonly measurement: string;
  readonly tags: [string, string][];
  /** next section with the same hash */
  next: SeriesSection | undefined;
  /** per field slot: raw field key bytes, canonical series key, batch id and its request */
  readonly fieldRaw: Uint8Array[];
  readonly keys: string[];
  readonly ids: number[];
  readonly stamps: number[];
}

export type SeriesKeyBuilder = (
  measurement: string,
  tags: ReadonlyArray<[string, string]>,
  field: string,
) => string;

export class SeriesKeyCache {
  private readonly sections = new Map<number, SeriesSection>();
  private keyCount = 0;
  private requests = 0;

  constructor(
    readonly keyOf: SeriesKeyBuilder,
    readonly maxKeys = 250_000,
  ) {}

  /** Canonical keys held. */
  get size(): number {
    return this.keyCount;
  }

  /** A stamp for one request, so batch ids of one request are never used by another. */
  nextRequest(): number {
    return ++this.requests;
  }

  find(hash: number, input: Uint8Array, start: number, end: number): SeriesSection | undefined {
    for (let s = this.sections.get(hash); s !== undefined; s = s.next) {
      if (sameBytes(s.raw, input, start, end)) return s;
    }
    return undefined;
  }

  add(
    hash: number,
    input: Uint8Array,
    start: number,
    end: number,
    measurement: string,
    tags: [string, string][],
  ): SeriesSection {
    const section: SeriesSection = {
      raw: copyBytes(input, start, end),
      measurement,
      tags,
      next: this.sections.get(hash),
      fieldRaw: [],
      keys: [],
      ids: [],
      stamps: [],
    };
    this.sections.set(hash, section);
    return section;
  }

  /** The slot of a field key in a section, or -1; `guess` is the field's position in its line. */
  findField(
    section: SeriesSection,
    guess: number,
    input: Uint8Array,
    start: number,
    end: number,
  ): number {
    const raws = section.fieldRaw;
    if (guess < raws.length && sameBytes(raws[guess], input, start, end)) return guess;
    for (let k = 0; k < raws.length; k++) {
      if (k !== guess && sameBytes(raws[k], input, start, end)) return k;
    }
    return -1;
  }

  /** Builds the canonical key for a new field of a section; returns its slot. */
  addField(
    section: SeriesSection,
    input: Uint8Array,
    start: number,
    end: number,
    field: string,
  ): number {
    const key = this.keyOf(section.measurement, section.tags, field);
    if (this.keyCount >= this.maxKeys) {
      // Sections already handed to a running parse stay valid; they just leave the cache.
      this.sections.clear();
      this.keyCount = 0;
    }
    section.fieldRaw.push(copyBytes(input, start, end));
    section.keys.push(key);
    section.ids.push(0);
    section.stamps.push(0);
    this.keyCount++;
    return section.keys.length - 1;
  }
}

/**
 * A copy, never a view: Buffer#slice shares memory, and a view would pin the whole request
 * body in the cache (and see its bytes change if the memory were reused).
 */
function copyBytes(input: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(input.subarray(start, end));
  return out;
}

function sameBytes(raw: Uint8Array, input: Uint8Array, start: number, end: number): boolean {
  if (raw.length !== end - start) return false;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== input[start + i]) return false;
  }
  return true;
}

/** FNV-1a offset basis and prime (32-bit). */
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

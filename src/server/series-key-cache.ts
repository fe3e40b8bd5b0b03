import { assert } from '../model/assert.js';
import { PointBatch } from '../model/batch.js';

/**
 * Canonical series keys by the raw bytes of line protocol, shared by all requests of a server,
 * so steady-state ingest (the same series every few seconds) builds no key and allocates no
 * string per line.
 *
 * A series section (`measurement,tag=value...`) is found by a 32-bit FNV-1a hash the parser
 * computes while scanning it, then confirmed byte for byte; a field key inside a section is
 * found by position first (lines of one series list their fields in the same order) and then
 * by a scan of that section's few fields. Each distinct canonical key has a small integer id,
 * so a request maps keys to its batch's series ids through typed arrays instead of a Map.
 *
 * Bounded: when a request starts with more than `maxKeys` keys cached, the cache starts over
 * (never in the middle of a request, so ids handed out stay valid until the request ends) and
 * the hot set refills within a request or two.
 */
export interface SeriesSection {
  /** the raw bytes as a latin1 string: one char per byte, half the memory of a Uint8Array */
  readonly raw: string;
  readonly measurement: string;
  readonly tags: [string, string][];
  /** next section with the same hash */
  next: SeriesSection | undefined;
  /** per field slot: raw field key bytes and the key id of its canonical series key */
  readonly fieldRaw: string[];
  readonly keyIds: number[];
}

export type SeriesKeyBuilder = (
  measurement: string,
  tags: ReadonlyArray<[string, string]>,
  field: string,
) => string;

/**
 * A PointBatch whose series are appended by the parser, which already knows which keys are
 * distinct in the request. `seriesId` still works for anyone else (via a Map built on demand).
 */
export class ParsedBatch extends PointBatch {
  private lookup: Map<string, number> | undefined;

  appendSeries(key: string): number {
    this.series.push(key);
    const id = this.series.length - 1;
    this.lookup?.set(key, id);
    return id;
  }

  override seriesId(canonicalKey: string): number {
    if (this.lookup === undefined) {
      this.lookup = new Map();
      for (let i = 0; i < this.series.length; i++) this.lookup.set(this.series[i], i);
    }
    return this.lookup.get(canonicalKey) ?? this.appendSeries(canonicalKey);
  }
}

export class SeriesKeyCache {
  private readonly sections = new Map<number, SeriesSection>();
  /** canonical key -> key id, and back */
  private readonly keyIdOf = new Map<string, number>();
  private keys: string[] = [];
  /** per key id: the request that last used it and the series id in that request's batch */
  private stamps = new Float64Array(1024);
  private batchIds = new Uint32Array(1024);
  private request = 0;
  private batch: ParsedBatch | undefined;

  constructor(
    readonly keyOf: SeriesKeyBuilder,
    readonly maxKeys = 250_000,
  ) {}

  /** Distinct canonical keys held. */
  get size(): number {
    return this.keys.length;
  }

  /** Starts a request that fills `batch`; drops everything first if the cache is over its bound. */
  beginRequest(batch: ParsedBatch): void {
    if (this.keys.length > this.maxKeys) {
      this.sections.clear();
      this.keyIdOf.clear();
      this.keys = [];
    }
    this.request++;
    this.batch = batch;
  }

  find(hash: number, input: Buffer, start: number, end: number): SeriesSection | undefined {
    for (let s = this.sections.get(hash); s !== undefined; s = s.next) {
      if (sameBytes(s.raw, input, start, end)) return s;
    }
    return undefined;
  }

  add(
    hash: number,
    input: Buffer,
    start: number,
    end: number,
    measurement: string,
    tags: [string, string][],
  ): SeriesSection {
    const section: SeriesSection = {
      raw: input.toString('latin1', start, end),
      measurement,
      tags,
      next: this.sections.get(hash),
      fieldRaw: [],
      keyIds: [],
    };
    this.sections.set(hash, section);
    return section;
  }

  /** The slot of a field key in a section, or -1; `guess` is the field's position in its line. */
  findField(
    section: SeriesSection,
    guess: number,
    input: Buffer,
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
    input: Buffer,
    start: number,
    end: number,
    field: string,
  ): number {
    const key = flatString(this.keyOf(section.measurement, section.tags, field));
    // Two spellings of one series (tag order, escapes) share one key id.
    let keyId = this.keyIdOf.get(key);
    if (keyId === undefined) {
      keyId = this.keys.length;
      this.keys.push(key);
      this.keyIdOf.set(key, keyId);
      if (keyId === this.stamps.length) this.growIds();
    }
    section.fieldRaw.push(input.toString('latin1', start, end));
    section.keyIds.push(keyId);
    return section.keyIds.length - 1;
  }

  /** The series id in the current request's batch of a field slot, appending it on first use. */
  batchId(section: SeriesSection, slot: number): number {
    const keyId = section.keyIds[slot];
    if (this.stamps[keyId] !== this.request) {
      assert(this.batch !== undefined, 'SeriesKeyCache.batchId outside a request');
      this.stamps[keyId] = this.request;
      this.batchIds[keyId] = this.batch.appendSeries(this.keys[keyId]);
    }
    return this.batchIds[keyId];
  }

  private growIds(): void {
    const stamps = new Float64Array(this.stamps.length * 2);
    stamps.set(this.stamps);
    const ids = new Uint32Array(this.batchIds.length * 2);
    ids.set(this.batchIds);
    this.stamps = stamps;
    this.batchIds = ids;
  }
}

/**
 * A flat copy of a string built by concatenation. V8 keeps such a string as a tree of its
 * pieces (~470 bytes for a 55-character key instead of ~90); the key lives as long as the
 * cache and the storage head hold it, so it is worth one copy when it is first built.
 */
export function flatString(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * Byte-for-byte equality of a latin1 string (a copy: a Buffer view would pin the request body
 * and see its memory reused) with a range of the input.
 */
function sameBytes(raw: string, input: Buffer, start: number, end: number): boolean {
  if (raw.length !== end - start) return false;
  for (let i = 0; i < raw.length; i++) {
    if (raw.charCodeAt(i) !== input[start + i]) return false;
  }
  return true;
}

/** FNV-1a offset basis and prime (32-bit). */
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

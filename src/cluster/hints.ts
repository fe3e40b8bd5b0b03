import type { Env } from '../env/env.js';
import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import { crc32 } from '../storage/crc32.js';
import { isNotFound, joinPath } from '../storage/vfs.js';

/**
 * Durable hints for hinted handoff. When a replica misses a write (down, timed out, overloaded)
 * the coordinator stores the write here, one file per hint under `hints/<target>/`, and replays
 * it when gossip sees the target alive again.
 *
 * A hint is written to a `.tmp` file, fsynced, renamed and the directory synced, so a hint the
 * store accepted survives a crash and a torn hint is never replayed. Every target is bounded
 * (hint count and bytes) and hints expire after `maxAgeMs`: past that, anti-entropy is the
 * repair path (a hint replayed after a very long time would also fight the retention policy).
 *
 * File: u32 magic 'CHNT', u32 crc32(payload), f64 createdAt (env.now()), u32 payload bytes,
 * u32 0, payload. Name: `<seq>.hint` with seq zero-padded so names sort in write order.
 * Payloads are opaque here (the data plane stores encoded point batches).
 */
export interface HintStoreOptions {
  dir: string;
  maxHintsPerTarget: number;
  maxBytesPerTarget: number;
  /** Hints older than this are dropped unreplayed. */
  maxAgeMs: number;
}

export const DEFAULT_HINT_OPTIONS: HintStoreOptions = {
  dir: 'hints',
  maxHintsPerTarget: 10_000,
  maxBytesPerTarget: 128 * 1024 * 1024,
  maxAgeMs: 3 * 3600_000,
};

const MAGIC = 0x544e4843; // 'CHNT' little-endian
const HEADER_BYTES = 24;
const SUFFIX = '.hint';
const TMP_SUFFIX = '.tmp';
const SEQ_DIGITS = 16;
/** Node ids become directory names; anything else is escaped. */
const SAFE_ID = /^[A-Za-z0-9_.-]+$/;

interface HintMeta {
  seq: number;
  bytes: number;
}

interface TargetHints {
  /** Oldest first. */
  hints: HintMeta[];
  bytes: number;
}

export interface HintStats {
  stored: number;
  replayed: number;
  /** Refused because the target was at its bound. */
  refused: number;
  /** Dropped unreplayed: expired, unreadable, or refused by the target for good. */
  dropped: number;
}

/** What a replay delivery decided about one hint. */
export type DeliveryResult = 'delivered' | 'retry' | 'drop';

function targetDir(root: string, target: string): string {
  const name =
    SAFE_ID.test(target) && target !== '.' && target !== '..'
      ? target
      : `~${encodeURIComponent(target).replace(/\./g, '%2E')}`;
  return joinPath(root, name);
}

function targetOfDir(name: string): string {
  return name.startsWith('~') ? decodeURIComponent(name.slice(1)) : name;
}

function fileName(seq: number): string {
  return `${String(seq).padStart(SEQ_DIGITS, '0')}${SUFFIX}`;
}

export function encodeHint(payload: Uint8Array, createdAt: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, crc32(payload), true);
  view.setFloat64(8, createdAt, true);
  view.setUint32(16, payload.length, true);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** Decodes a hint file; undefined when it is torn or damaged. */
export function decodeHint(
  file: Uint8Array,
): { payload: Uint8Array; createdAt: number } | undefined {
  if (file.length < HEADER_BYTES) return undefined;
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return undefined;
  const len = view.getUint32(16, true);
  if (HEADER_BYTES + len !== file.length) return undefined;
  const payload = file.subarray(HEADER_BYTES);
  if (crc32(payload) !== view.getUint32(4, true)) return undefined;
  return { payload, createdAt: view.getFloat64(8, true) };
}

export class HintStore {
  readonly stats: HintStats = { stored: 0, replayed: 0, refused: 0, dropped: 0 };
  private readonly targets = new Map<string, TargetHints>();
  private readonly replaying = new Set<string>();
  private nextSeq = 1;

  private constructor(
    private readonly env: Env,
    readonly options: HintStoreOptions,
  ) {}

  /** Opens the store, loading the index of the hints on disk and removing unfinished ones. */
  static async open(env: Env, options: Partial<HintStoreOptions> = {}): Promise<HintStore> {
    const opts = { ...DEFAULT_HINT_OPTIONS, ...options };
    assert(opts.maxHintsPerTarget >= 1 && opts.maxBytesPerTarget >= 1, 'HintStore: bad bounds');
    const store = new HintStore(env, opts);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    const vfs = this.env.vfs;
    await vfs.mkdir(this.options.dir);
    for (const dirName of await vfs.list(this.options.dir)) {
      const dir = joinPath(this.options.dir, dirName);
      const entry: TargetHints = { hints: [], bytes: 0 };
      for (const name of await vfs.list(dir)) {
        const path = joinPath(dir, name);
        const seq = Number(name.slice(0, name.length - SUFFIX.length));
        if (!name.endsWith(SUFFIX) || !Number.isSafeInteger(seq)) {
          // A .tmp is a hint whose write never finished: it was never accepted.
          await vfs.remove(path);
          continue;
        }
        const bytes = (await vfs.readFile(path)).length;
        entry.hints.push({ seq, bytes });
        entry.bytes += bytes;
        if (seq >= this.nextSeq) this.nextSeq = seq + 1;
      }
      if (entry.hints.length > 0) this.targets.set(targetOfDir(dirName), entry);
    }
  }

  /** Targets with hints waiting. */
  targetsWithHints(): string[] {
    return [...this.targets.keys()].filter((t) => this.pending(t) > 0).sort();
  }

  pending(target: string): number {
    return this.targets.get(target)?.hints.length ?? 0;
  }

  pendingBytes(target: string): number {
    return this.targets.get(target)?.bytes ?? 0;
  }

  /**
   * Stores a hint durably. Returns false (storing nothing) when the target is at its bound; the
   * caller counts that write as missed for good at that replica (anti-entropy repairs it).
   */
  async add(target: string, payload: Uint8Array): Promise<boolean> {
    const file = encodeHint(payload, this.env.now());
    let entry = this.targets.get(target);
    if (entry === undefined) {
      entry = { hints: [], bytes: 0 };
      this.targets.set(target, entry);
    }
    if (
      entry.hints.length >= this.options.maxHintsPerTarget ||
      entry.bytes + file.length > this.options.maxBytesPerTarget
    ) {
      this.stats.refused++;
      return false;
    }
    const seq = this.nextSeq++;
    // Reserve the space now, so concurrent adds cannot overshoot the bound.
    const meta = { seq, bytes: file.length };
    entry.bytes += file.length;
    const vfs = this.env.vfs;
    const dir = targetDir(this.options.dir, target);
    const path = joinPath(dir, fileName(seq));
    try {
      await vfs.mkdir(dir);
      const f = await vfs.open(`${path}${TMP_SUFFIX}`, 'create');
      try {
        await f.append(file);
        await f.sync();
      } finally {
        await f.close();
      }
      await vfs.rename(`${path}${TMP_SUFFIX}`, path);
      await vfs.syncDir(dir);
    } catch (e) {
      entry.bytes -= file.length;
      await vfs.remove(`${path}${TMP_SUFFIX}`).catch(() => undefined);
      throw new CountError('internal', `could not store a hint for ${target}`, { cause: e });
    }
    // Keep the list sorted by seq (adds may finish out of order).
    const hints = entry.hints;
    let at = hints.length;
    while (at > 0 && hints[at - 1].seq > seq) at--;
    hints.splice(at, 0, meta);
    this.stats.stored++;
    return true;
  }

  /**
   * Replays the hints of `target`, oldest first, through `deliver`, waiting `pauseMs` between
   * hints (throttle). Stops at the first 'retry' (the target went away again) or after
   * `maxHints`. Expired and damaged hints are dropped. One replay per target at a time: a
   * second call while one runs returns 0 at once. Returns the number delivered.
   */
  async replay(
    target: string,
    deliver: (payload: Uint8Array) => Promise<DeliveryResult>,
    opts: { pauseMs?: number; maxHints?: number } = {},
  ): Promise<number> {
    if (this.replaying.has(target)) return 0;
    this.replaying.add(target);
    const pauseMs = opts.pauseMs ?? 0;
    const maxHints = opts.maxHints ?? Number.POSITIVE_INFINITY;
    let delivered = 0;
    try {
      const entry = this.targets.get(target);
      if (entry === undefined) return 0;
      for (let done = 0; done < maxHints && entry.hints.length > 0; done++) {
        const meta = entry.hints[0];
        const path = joinPath(targetDir(this.options.dir, target), fileName(meta.seq));
        let hint: ReturnType<typeof decodeHint>;
        try {
          hint = decodeHint(await this.env.vfs.readFile(path));
        } catch (e) {
          if (!isNotFound(e)) throw e;
          hint = undefined;
        }
        let outcome: DeliveryResult;
        if (hint === undefined || this.env.now() - hint.createdAt > this.options.maxAgeMs) {
          outcome = 'drop';
        } else {
          outcome = await deliver(hint.payload);
        }
        if (outcome === 'retry') break;
        if (outcome === 'delivered') {
          this.stats.replayed++;
          delivered++;
        } else {
          this.stats.dropped++;
        }
        await this.remove(target, entry, meta, path);
        if (pauseMs > 0 && entry.hints.length > 0) await this.sleep(pauseMs);
      }
      // An add in flight has reserved bytes in this entry and will list its hint here: the
      // entry stays while it does, or that hint would be on disk but never replayed.
      if (entry.hints.length === 0 && entry.bytes === 0 && this.targets.get(target) === entry) {
        this.targets.delete(target);
      }
      return delivered;
    } finally {
      this.replaying.delete(target);
    }
  }

  /** Drops every hint of `target` (the node left the cluster). */
  async discard(target: string): Promise<void> {
    const entry = this.targets.get(target);
    if (entry === undefined) return;
    this.stats.dropped += entry.hints.length;
    this.targets.delete(target);
    const dir = targetDir(this.options.dir, target);
    await this.env.vfs.remove(dir);
    await this.env.vfs.syncDir(this.options.dir);
  }

  private async remove(
    target: string,
    entry: TargetHints,
    meta: HintMeta,
    path: string,
  ): Promise<void> {
    await this.env.vfs.remove(path);
    await this.env.vfs.syncDir(targetDir(this.options.dir, target));
    const i = entry.hints.indexOf(meta);
    if (i >= 0) {
      entry.hints.splice(i, 1);
      entry.bytes -= meta.bytes;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.env.setTimer(ms, resolve));
  }
}

import { assert } from '../model/assert.js';
import type { Samples } from '../model/point.js';
import { mergeSamples } from '../query/merge.js';
import type { BlockMeta } from './block-format.js';
import type { Block } from './block-reader.js';
import type { BlockWriter } from './block-writer.js';
import type { Tombstones } from './tombstones.js';

/**
 * Compaction: first blocks whose windows overlap (two flushes of one window, late out-of-order
 * data) are merged; then blocks that fit in one aligned window of the next range
 * (2h -> 6h -> 24h by default) are merged into it. Output is written completely before the
 * inputs are removed, so a crash leaves the old blocks, the new one, or both (and duplicates
 * converge at query time).
 */
export interface CompactionGroup {
  inputs: string[];
  start: number;
  end: number;
  level: number;
}

type MetaLike = Pick<BlockMeta, 'id' | 'start' | 'end' | 'level'>;

/**
 * Picks the next groups to merge. Windows ending after `freshBoundary` are left alone (the head
 * may still write into them). Returns overlap groups if there are any, else the groups of the
 * smallest range that has some; [] when nothing is to do.
 */
export function planCompaction(
  metas: readonly MetaLike[],
  rangesMs: readonly number[],
  freshBoundary: number,
): CompactionGroup[] {
  const sorted = [...metas].sort((a, b) => a.start - b.start || a.end - b.end);
  const overlaps: CompactionGroup[] = [];
  let cur: MetaLike[] = [];
  let curEnd = Number.NEGATIVE_INFINITY;
  const closeGroup = () => {
    if (cur.length > 1 && curEnd <= freshBoundary) {
      overlaps.push({
        inputs: cur.map((m) => m.id),
        start: cur[0].start,
        end: curEnd,
        level: Math.max(...cur.map((m) => m.level)) + 1,
      });
    }
  };
  for (const m of sorted) {
    if (m.start < curEnd) {
      cur.push(m);
      if (m.end > curEnd) curEnd = m.end;
    } else {
      closeGroup();
      cur = [m];
      curEnd = m.end;
    }
  }
  closeGroup();
  if (overlaps.length > 0) return overlaps;

  for (const range of rangesMs) {
    assert(range > 0, 'planCompaction: ranges must be positive');
    const byWindow = new Map<number, MetaLike[]>();
    for (const m of sorted) {
      const w = Math.floor(m.start / range);
      if (m.end > (w + 1) * range) continue;
      if ((w + 1) * range > freshBoundary) continue;
      const list = byWindow.get(w);
      if (list === undefined) byWindow.set(w, [m]);
      else list.push(m);
    }
    const groups: CompactionGroup[] = [];
    for (const [w, list] of byWindow) {
      if (list.length < 2) continue;
      groups.push({
        inputs: list.map((m) => m.id),
        start: w * range,
        end: (w + 1) * range,
        level: Math.max(...list.map((m) => m.level)) + 1,
      });
    }
    if (groups.length > 0) return groups;
  }
  return [];
}

/**
 * Writes the merge of `inputs` as one new block: series by series in key order, tombstoned
 * data dropped, duplicates resolved by convergeValue (mergeSamples). Memory is bounded by one
 * series' points over the window.
 */
export async function writeMergedBlock(
  writer: BlockWriter,
  inputs: readonly Block[],
  tombstones: Tombstones,
): Promise<BlockMeta> {
  const keys = new Set<string>();
  for (const b of inputs) for (const k of b.seriesKeys) keys.add(k);
  const sortedKeys = [...keys].sort();
  try {
    for (const key of sortedKeys) {
      const parts: Samples[] = [];
      for (const b of inputs) {
        if (!b.has(key) || tombstones.hides(key, b.meta.seq)) continue;
        const s = await b.read(key, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY);
        if (s.timestamps.length > 0) parts.push(s);
      }
      if (parts.length === 0) continue;
      await writer.addSeries(key, parts.length === 1 ? parts[0] : mergeSamples(parts));
    }
    return await writer.finish();
  } catch (e) {
    await writer.abort().catch(() => undefined);
    throw e;
  }
}

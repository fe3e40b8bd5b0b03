import type { BlockMeta } from './block-format.js';

/**
 * Retention deletes whole blocks: a block goes once its whole window is older than
 * `now - retentionMs`. Partial blocks are kept until then (no rewrite for retention).
 */
export function blocksPastRetention(
  metas: readonly Pick<BlockMeta, 'id' | 'end'>[],
  now: number,
  retentionMs: number,
): string[] {
  if (retentionMs <= 0) return [];
  const cutoff = now - retentionMs;
  return metas.filter((m) => m.end <= cutoff).map((m) => m.id);
}

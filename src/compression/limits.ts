/**
 * Bounds of the chunk format. A chunk holds at most MAX_CHUNK_POINTS points: the engine cuts
 * chunks per block window (720 points at 10 s for 2 h, a few thousand after compaction), so
 * the bound only stops a corrupt header from asking for a huge allocation.
 */
export const MAX_CHUNK_POINTS = 1 << 20;

/** Bits that hold any count in [0, MAX_CHUNK_POINTS). */
export const CHUNK_COUNT_BITS = 20;

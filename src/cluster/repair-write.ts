import type { PointBatch } from '../model/batch.js';
import type { StorageEngine } from '../storage/engine.js';

/**
 * Writes repair data (hints, read repair, anti-entropy, range streaming) into a storage engine.
 * Repair data is often older than the engine's out-of-order window, which exists to keep
 * client writes near "now"; repair paths ask the engine to accept old points with the narrowly
 * named `allowOld` write option (still validated, durable and memory-bounded like any write).
 */
export function writeRepair(engine: StorageEngine, batch: PointBatch): Promise<void> {
  if (batch.length === 0) return Promise.resolve();
  return engine.write(batch, { allowOld: true });
}

import type { PointBatch } from '../model/batch.js';
import type { StorageEngine } from '../storage/engine.js';

/**
 * Writes repair data (hints, read repair, anti-entropy, range streaming) into a storage engine.
 * Repair data is often older than the engine's out-of-order window, which exists to keep
 * client writes near "now"; repair paths ask the engine to accept old points with the narrowly
 * named `allowOld` write option. An engine without the option ignores the extra argument and
 * refuses points outside its window (timestamp_out_of_window): the repair of that batch fails
 * and anti-entropy retries it later.
 */
interface RepairWritable {
  write(batch: PointBatch, options?: { allowOld?: boolean }): Promise<void>;
}

export function writeRepair(engine: StorageEngine, batch: PointBatch): Promise<void> {
  if (batch.length === 0) return Promise.resolve();
  return (engine as unknown as RepairWritable).write(batch, { allowOld: true });
}

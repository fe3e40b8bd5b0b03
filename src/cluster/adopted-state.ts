import { CountError } from '../model/errors.js';
import { isNotFound, type Vfs } from '../storage/vfs.js';
import { type ClusterState, decodeClusterState, encodeClusterState } from './cluster-state.js';

const FILE = 'adopted';
const TMP = 'adopted.tmp';

/**
 * The newest committed ClusterState a node adopted, kept durably next to its Raft log
 * (`<dir>/adopted`). The Raft log alone cannot bring it back after a restart: a state fetched
 * from a peer (catchUp) is not in the local log, and the log's commit index is advisory (not
 * fsynced), so a restarted node would replay to an older epoch. Written whole to a temporary
 * file, fsynced, renamed over the old one and the folder fsynced: a crash leaves the old or the
 * new state, never a torn one.
 */
export class AdoptedStateFile {
  constructor(
    private readonly vfs: Vfs,
    private readonly dir: string,
  ) {}

  /** The state last saved, or null when none was. */
  async load(): Promise<ClusterState | null> {
    let data: Uint8Array;
    try {
      data = await this.vfs.readFile(`${this.dir}/${FILE}`);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
    try {
      return decodeClusterState(data);
    } catch (e) {
      // Only a whole, fsynced file is ever renamed into place: damage here is not a crash.
      throw new CountError('internal', `unreadable ${this.dir}/${FILE}: ${String(e)}`, {
        cause: e,
      });
    }
  }

  /** Resolves once `state` survives a crash. Callers serialize saves. */
  async save(state: ClusterState): Promise<void> {
    await this.vfs.mkdir(this.dir);
    const f = await this.vfs.open(`${this.dir}/${TMP}`, 'create');
    try {
      await f.append(encodeClusterState(state));
      await f.sync();
    } finally {
      await f.close();
    }
    await this.vfs.rename(`${this.dir}/${TMP}`, `${this.dir}/${FILE}`);
    await this.vfs.syncDir(this.dir);
  }
}

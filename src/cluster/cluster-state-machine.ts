import type { Entry, Snapshot, StateMachine } from '../../raft/index.js';
import { assert } from '../model/assert.js';
import type { ErrorCode } from '../model/errors.js';
import { applyCommand, decodeCommand } from './cluster-commands.js';
import {
  type ClusterState,
  decodeClusterState,
  EMPTY_CLUSTER_STATE,
  encodeClusterState,
} from './cluster-state.js';

/** What a committed command resolves `propose` with on the node that proposed it. */
export type ApplyOutcome =
  | { readonly ok: true; readonly epoch: number; readonly changed: boolean }
  | {
      readonly ok: false;
      readonly epoch: number;
      readonly code: ErrorCode;
      readonly message: string;
    };

/**
 * The Raft state machine holding ClusterState: committed commands go through the pure
 * transitions of cluster-commands.ts; snapshots are the state's JSON.
 */
export class ClusterStateMachine implements StateMachine {
  private current: ClusterState = EMPTY_CLUSTER_STATE;

  constructor(private readonly onApplied: (state: ClusterState) => void) {}

  state(): ClusterState {
    return this.current;
  }

  apply(entry: Entry): ApplyOutcome {
    let cmd: ReturnType<typeof decodeCommand>;
    try {
      cmd = decodeCommand(entry.data);
    } catch {
      // Every replica refuses the same bytes the same way: the state stays identical everywhere.
      return {
        ok: false,
        epoch: this.current.epoch,
        code: 'invalid_body',
        message: 'undecodable command',
      };
    }
    const r = applyCommand(this.current, cmd);
    if (!r.ok) return { ok: false, epoch: this.current.epoch, code: r.code, message: r.message };
    if (r.changed) {
      assert(
        r.state.epoch === this.current.epoch + 1,
        'a committed change raises the epoch by one',
      );
      this.current = r.state;
      this.onApplied(this.current);
    }
    return { ok: true, epoch: this.current.epoch, changed: r.changed };
  }

  snapshot(): Uint8Array {
    return encodeClusterState(this.current);
  }

  restore(snapshot: Snapshot): void {
    if (snapshot.data.length === 0) return;
    this.current = decodeClusterState(snapshot.data);
    this.onApplied(this.current);
  }
}

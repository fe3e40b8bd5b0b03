import type { NodeAddress } from '../../src/cluster/cluster-commands.js';
import type { RangeBounds } from '../../src/cluster/cluster-state.js';
import { requestJoin } from '../../src/cluster/join-client.js';
import { MetaService } from '../../src/cluster/meta-service.js';
import { ClusterMetadata } from '../../src/cluster/metadata.js';
import {
  type OperationBug,
  OperationDriver,
  type StreamRange,
} from '../../src/cluster/operations.js';
import type { ClusterEnv, PeerNetwork } from '../../src/env/cluster-env.js';
import { CountError } from '../../src/model/errors.js';
import { PeerError } from '../../src/net/peer-transport.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { VirtualClock as SharedVirtualClock } from '../helpers/virtual-clock.js';

/**
 * Several metadata nodes in one process on virtual time: a timer queue the test advances, an
 * in-memory PeerNetwork with a 1 ms hop (messages to a node that is down or cut off vanish,
 * requests to it time out), and a MemoryVfs disk per node. After each timer the clock settles
 * microtasks and one macrotask turn.
 */
export class VirtualClock extends SharedVirtualClock {
  constructor() {
    super(settle);
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

type Handler = (from: string, payload: unknown) => unknown;

export class MemoryNetwork {
  readonly handlers = new Map<string, Map<string, Handler>>();
  /** Which node listens at a peer address. */
  readonly addresses = new Map<string, string>();
  readonly down = new Set<string>();
  private readonly cut = new Set<string>();
  delivered = 0;

  constructor(private readonly clock: VirtualClock) {}

  isolate(id: string): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
  }

  private reachable(a: string, b: string): boolean {
    return !this.down.has(a) && !this.down.has(b) && !this.cut.has(a) && !this.cut.has(b);
  }

  /** The PeerNetwork of node `self` listening at `address`. */
  endpoint(self: string, address: string): PeerNetwork {
    this.addresses.set(address, self);
    const book = new Map<string, string>();
    const handlers = new Map<string, Handler>();
    this.handlers.set(self, handlers);
    // A peer is reached by the address it was added with (placeholder ids for seeds), or by id.
    const target = (to: string): string | null => {
      const addr = book.get(to);
      if (addr !== undefined) return this.addresses.get(addr) ?? null;
      return this.handlers.has(to) ? to : null;
    };
    return {
      send: (to, channel, payload) => {
        const dst = target(to);
        if (dst === null) return false;
        const copy = structuredClone(payload);
        this.clock.setTimer(1, () => {
          if (!this.reachable(self, dst)) return;
          const h = this.handlers.get(dst)?.get(channel);
          this.delivered++;
          try {
            h?.(self, copy);
          } catch {
            // one-way: nobody to tell
          }
        });
        return true;
      },
      request: (to, channel, payload, timeoutMs) =>
        new Promise((resolve, reject) => {
          const dst = target(to);
          if (dst === null) {
            reject(new PeerError('unreachable', `unknown peer ${to}`));
            return;
          }
          let done = false;
          const timer = this.clock.setTimer(timeoutMs, () => {
            if (done) return;
            done = true;
            reject(new PeerError('timeout', `request to ${to} on ${channel} timed out`));
          });
          const copy = structuredClone(payload);
          this.clock.setTimer(1, () => {
            if (!this.reachable(self, dst)) return;
            const h = this.handlers.get(dst)?.get(channel);
            Promise.resolve()
              .then(() => {
                if (h === undefined) throw new Error(`no handler for ${channel}`);
                return h(self, copy);
              })
              .then(
                (value) => ({ ok: true as const, value: structuredClone(value) }),
                (e: unknown) => ({ ok: false as const, e }),
              )
              .then((r) =>
                this.clock.setTimer(1, () => {
                  if (done || !this.reachable(self, dst)) return;
                  done = true;
                  timer.cancel();
                  if (r.ok) resolve(r.value);
                  else if (r.e instanceof CountError) {
                    reject(new CountError(r.e.code, r.e.message, { details: r.e.details }));
                  } else
                    reject(
                      new PeerError('remote', r.e instanceof Error ? r.e.message : String(r.e)),
                    );
                }),
              );
          });
        }),
      on: (channel, handler) => {
        handlers.set(channel, handler);
      },
      addPeer: (id, address) => {
        book.set(id, address);
      },
      removePeer: (id) => {
        book.delete(id);
      },
    };
  }
}

export interface TestNode {
  readonly id: string;
  readonly env: ClusterEnv;
  readonly vfs: MemoryVfs;
  metadata: ClusterMetadata;
  driver: OperationDriver;
  service: MetaService;
  /** Epochs seen through onChange, in order (they must never go back). */
  readonly epochs: number[];
}

export const address = (id: string): NodeAddress => ({
  id,
  httpAddress: `http-${id}:8080`,
  peerAddress: `peer-${id}:9090`,
});

export interface HarnessOptions {
  stream?: (
    node: string,
    range: RangeBounds,
    from: string,
  ) => Promise<{ series: number; points: number }>;
  epochWaitMs?: number;
  bugs?: OperationBug[];
  /** Called once per boot before the node starts (e.g. to give it a data plane). */
  onBoot?: (node: TestNode) => Promise<void>;
}

export class MetaCluster {
  readonly clock = new VirtualClock();
  readonly net = new MemoryNetwork(this.clock);
  readonly nodes = new Map<string, TestNode>();
  readonly streams: { node: string; range: RangeBounds; from: string }[] = [];
  private seed = 1;

  constructor(private readonly options: HarnessOptions = {}) {}

  private makeEnv(id: string, vfs: MemoryVfs): ClusterEnv {
    let s = this.seed++ * 7919;
    const clock = this.clock;
    return {
      nodeId: id,
      net: this.net.endpoint(id, address(id).peerAddress),
      now: () => 1_700_000_000_000 + clock.now,
      monotonic: () => clock.now,
      setTimer: (ms, fn) => clock.setTimer(ms, fn),
      random: () => {
        s = (s * 16807) % 2147483647;
        return s / 2147483647;
      },
      vfs: vfs.view(),
    };
  }

  private async boot(id: string, vfs: MemoryVfs): Promise<TestNode> {
    const env = this.makeEnv(id, vfs);
    const metadata = await ClusterMetadata.open(env, {});
    const stream: StreamRange = async (range, from) => {
      this.streams.push({ node: id, range, from });
      if (this.options.stream !== undefined) return this.options.stream(id, range, from);
      return { series: 1, points: 10 };
    };
    const driver = new OperationDriver(env, metadata, stream, {
      epochWaitMs: this.options.epochWaitMs ?? 5000,
      bugs: new Set(this.options.bugs ?? []),
    });
    const service = new MetaService(env, metadata, driver);
    const node: TestNode = { id, env, vfs, metadata, driver, service, epochs: [] };
    metadata.onChange((s) => node.epochs.push(s.epoch));
    await this.options.onBoot?.(node);
    driver.listen();
    service.listen();
    metadata.start();
    driver.watch();
    this.nodes.set(id, node);
    return node;
  }

  /** Founds the cluster on `id` alone. */
  async bootstrap(id: string, rf = 3): Promise<TestNode> {
    const vfs = new MemoryVfs();
    const env = this.makeEnv(id, vfs);
    await ClusterMetadata.bootstrap(env, { nodes: [address(id)], rf });
    return this.boot(id, vfs);
  }

  /** Starts `id` with an empty disk and asks `seed` to let it join. */
  async join(id: string, seed: string): Promise<TestNode> {
    const node = await this.boot(id, new MemoryVfs());
    const joined = requestJoin(node.env, node.metadata, [address(seed).peerAddress], address(id));
    await this.until(joined);
    return node;
  }

  /** Power cut and restart of `id` from what its disk kept (un-fsynced bytes are lost). */
  async restart(id: string): Promise<TestNode> {
    const old = this.get(id);
    old.driver.unwatch();
    await old.metadata.stop();
    old.vfs.crash({ tear: true });
    return this.boot(id, old.vfs);
  }

  /** Advances virtual time until `p` settles (bounded). */
  async until<T>(p: Promise<T>, maxMs = 60_000): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    p.then(
      (v) => {
        done = true;
        value = v;
      },
      (e: unknown) => {
        done = true;
        error = e;
      },
    );
    for (let t = 0; t < maxMs && !done; t += 10) await this.clock.advance(10);
    if (!done) throw new Error(`not settled within ${maxMs} virtual ms`);
    if (error !== undefined) throw error;
    return value as T;
  }

  async waitFor(cond: () => boolean, maxMs = 60_000): Promise<void> {
    for (let t = 0; t < maxMs; t += 10) {
      if (cond()) return;
      await this.clock.advance(10);
    }
    throw new Error(`condition not met within ${maxMs} virtual ms`);
  }

  leader(): TestNode | null {
    for (const n of this.nodes.values()) {
      if (!this.net.down.has(n.id) && n.metadata.isLeader()) return n;
    }
    return null;
  }

  get(id: string): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  async stopAll(): Promise<void> {
    for (const n of this.nodes.values()) {
      n.driver.unwatch();
      await n.metadata.stop();
    }
  }
}

import { afterEach } from 'vitest';
import type { CoordinatorOptions } from '../../src/distributed/coordinator.js';
import { TestCluster } from './test-cluster.js';

/**
 * The fixture of the randomized data-plane tests: one TestCluster at a time, closed after
 * each test even when it failed, and closed by `close()` between the seeds of one test.
 */
export class ClusterPerTest {
  private current: TestCluster | undefined;

  async start(
    n: number,
    rf: number,
    options: Partial<CoordinatorOptions> = {},
  ): Promise<TestCluster> {
    await this.close();
    this.current = await TestCluster.start(n, rf, options);
    return this.current;
  }

  async close(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    await c?.close();
  }
}

/** Call at the top of a test file; registers the afterEach that closes the cluster. */
export function clusterPerTest(): ClusterPerTest {
  const fixture = new ClusterPerTest();
  afterEach(() => fixture.close());
  return fixture;
}

/** Deterministic pseudo-random numbers (an LCG) for planted faults, outages and writes. */
export function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

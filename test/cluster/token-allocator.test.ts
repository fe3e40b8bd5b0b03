import { describe, expect, it } from 'vitest';
import { tokenOf } from '../../src/cluster/ring.js';
import {
  allocateTokens,
  imbalance,
  primaryShares,
  type TokenHolder,
} from '../../src/cluster/token-allocator.js';

/** Largest replica share over mean, counting every replica of each range (rf copies). */
function replicaImbalance(holders: readonly TokenHolder[], rf: number): number {
  const vn: [bigint, string][] = [];
  for (const h of holders) for (const t of h.tokens) vn.push([BigInt(`0x${t}`), h.id]);
  vn.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const load = new Map<string, number>(holders.map((h) => [h.id, 0]));
  for (let i = 0; i < vn.length; i++) {
    const prev = vn[(i + vn.length - 1) % vn.length][0];
    const len = Number((vn[i][0] - prev + 2n ** 64n) % 2n ** 64n);
    const reps: string[] = [];
    for (let j = 0; reps.length < rf; j++) {
      const o = vn[(i + j) % vn.length][1];
      if (!reps.includes(o)) reps.push(o);
    }
    for (const r of reps) load.set(r, load.get(r)! + len);
  }
  return imbalance(load);
}

describe('token allocator', () => {
  it('keeps the largest share within 1.05 of the mean with 16 tokens at 10 and 100 nodes', () => {
    const holders: TokenHolder[] = [];
    const random: TokenHolder[] = [];
    const figures: Record<number, { allocated: number; random: number; rf3: number }> = {};
    for (let n = 1; n <= 100; n++) {
      const id = `node-${n}`;
      holders.push({ id, tokens: allocateTokens(holders, id, 16) });
      random.push({ id, tokens: Array.from({ length: 16 }, (_, i) => tokenOf(`${id}/${i}`)) });
      if (n === 10 || n === 100) {
        figures[n] = {
          allocated: imbalance(primaryShares(holders)),
          random: imbalance(primaryShares(random)),
          rf3: replicaImbalance(holders, 3),
        };
      }
    }
    // The figure the issue asks for (max share / mean share), reported with the random baseline.
    console.log(
      `token balance, 16 tokens/node (max/mean share): ${[10, 100]
        .map(
          (n) =>
            `${n} nodes: allocator ${figures[n].allocated.toFixed(3)} (rf=3 replica share ${figures[n].rf3.toFixed(3)}), random ${figures[n].random.toFixed(3)}`,
        )
        .join('; ')}`,
    );
    expect(figures[10].allocated).toBeLessThanOrEqual(1.05);
    expect(figures[100].allocated).toBeLessThanOrEqual(1.05);
    // The baseline really is worse, so the test measures the allocator, not luck.
    expect(figures[10].random).toBeGreaterThan(1.2);
    expect(figures[100].random).toBeGreaterThan(1.2);
  });

  it('is deterministic, gives distinct sorted tokens and never reuses a held token', () => {
    const holders: TokenHolder[] = [];
    for (let n = 1; n <= 12; n++)
      holders.push({ id: `n${n}`, tokens: allocateTokens(holders, `n${n}`, 16) });
    const again: TokenHolder[] = [];
    for (let n = 1; n <= 12; n++)
      again.push({ id: `n${n}`, tokens: allocateTokens(again, `n${n}`, 16) });
    expect(again).toEqual(holders);
    const all = holders.flatMap((h) => h.tokens);
    expect(new Set(all).size).toBe(all.length);
    for (const h of holders) expect([...h.tokens]).toEqual([...h.tokens].sort());
    // Tiny rings and many tokens: still distinct.
    const tiny: TokenHolder[] = [];
    for (let n = 1; n <= 5; n++)
      tiny.push({ id: `t${n}`, tokens: allocateTokens(tiny, `t${n}`, 1) });
    expect(new Set(tiny.map((t) => t.tokens[0])).size).toBe(5);
  });

  it('a new node takes about a mean share, mostly from the most loaded owners', () => {
    const holders: TokenHolder[] = [];
    for (let n = 1; n <= 7; n++)
      holders.push({ id: `n${n}`, tokens: allocateTokens(holders, `n${n}`, 16) });
    const before = primaryShares(holders);
    holders.push({ id: 'new', tokens: allocateTokens(holders, 'new', 16) });
    const after = primaryShares(holders);
    expect(after.get('new')!).toBeGreaterThan(0.95 / 8);
    expect(after.get('new')!).toBeLessThan(1.05 / 8);
    for (const [id, s] of before) expect(after.get(id)!).toBeLessThanOrEqual(s + 1e-12);
  });
});

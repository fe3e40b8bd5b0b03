import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { Admission } from '../../src/server/admission.js';

describe('Admission', () => {
  it('admits up to the limit, refuses past it with overloaded + Retry-After, frees on settle', async () => {
    const seen: number[] = [];
    const a = new Admission('queries', 2, (n) => seen.push(n));
    const gates: (() => void)[] = [];
    const hold = () => new Promise<void>((res) => gates.push(res));
    const first = a.run(hold);
    const second = a.run(async () => {
      await hold();
      throw new Error('boom');
    });
    expect(a.inFlight).toBe(2);
    const refused = await a.run(async () => 1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CountError);
    expect((refused as CountError).code).toBe('overloaded');
    expect((refused as CountError).status).toBe(429);
    expect((refused as CountError).retryAfterSeconds).toBe(1);
    for (const g of gates) g();
    await first;
    await expect(second).rejects.toThrow('boom');
    expect(a.inFlight).toBe(0);
    expect(await a.run(async () => 7)).toBe(7);
    expect(seen).toEqual([1, 2, 1, 0, 1, 0]);
  });
});

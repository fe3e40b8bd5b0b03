import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../sim/event-queue.js';
import { SimRandom } from '../../sim/random.js';
import { Scheduler } from '../../sim/scheduler.js';
import { SIM_EPOCH_MS, SimEnv } from '../../sim/sim-env.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

describe('EventQueue', () => {
  it('pops by time, then by scheduling order', () => {
    const q = new EventQueue();
    const rnd = SimRandom.stream(1, 'q');
    const pushed: [number, number][] = [];
    for (let i = 0; i < 500; i++) {
      const at = rnd.int(0, 50);
      q.push(at, () => {});
      pushed.push([at, i]);
    }
    const popped: [number, number][] = [];
    for (let ev = q.pop(); ev !== undefined; ev = q.pop()) popped.push([ev.at, ev.seq]);
    pushed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(popped).toEqual(pushed);
  });

  it('refuses to grow past its capacity', () => {
    const q = new EventQueue(2);
    q.push(1, () => {});
    q.push(1, () => {});
    expect(() => q.push(1, () => {})).toThrow(/capacity/);
  });
});

describe('Scheduler and SimEnv', () => {
  it('runs promise continuations of an event before the next event', async () => {
    const s = new Scheduler();
    const vfs = new MemoryVfs();
    const log: string[] = [];
    s.schedule(1, () => {
      void (async () => {
        const f = await vfs.open('a', 'create');
        await f.append(new Uint8Array([1]));
        await f.sync();
        log.push(`synced at ${s.now}`);
      })();
    });
    s.schedule(1, () => log.push(`second at ${s.now}`));
    await s.run(10);
    expect(log).toEqual(['synced at 1', 'second at 1']);
  });

  it('drains long promise chains, and chains they start, before the next event', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const chain = async (name: string, depth: number): Promise<void> => {
      for (let i = 0; i < depth; i++) await null;
      log.push(`${name} at ${s.now}`);
    };
    s.schedule(1, () => {
      void chain('a', 500).then(() => chain('b', 300));
    });
    s.schedule(1, () => log.push(`second at ${s.now}`));
    s.schedule(2, () => {
      void chain('c', 10);
    });
    await s.run(10);
    expect(log).toEqual(['a at 1', 'b at 1', 'second at 1', 'c at 2']);
    expect(s.eventsRun).toBe(3);
  });

  it('lets real timers run during a long run, and stops when asked', async () => {
    const s = new Scheduler();
    let ran = 0;
    const tick = (): void => {
      ran++;
      s.schedule(1, tick);
    };
    s.schedule(0, tick);
    let realTimerFired = false;
    setTimeout(() => {
      realTimerFired = true;
    }, 0);
    // Runs until the real timer had its turn (bounded, so a loop that never yields fails).
    await s.run(Number.MAX_SAFE_INTEGER, () => realTimerFired || ran >= 100_000);
    expect(realTimerFired).toBe(true);
    expect(ran).toBeGreaterThan(0);
    expect(ran).toBeLessThan(100_000);
  });

  it('rejects when an event throws', async () => {
    const s = new Scheduler();
    s.schedule(1, () => {
      throw new Error('boom');
    });
    await expect(s.run(10)).rejects.toThrow('boom');
  });

  it('drift makes a fast clock fire its timers early in global time', async () => {
    const s = new Scheduler();
    const fast = new SimEnv(
      'n1',
      s,
      { rate: 0.25, offsetMs: 1000 },
      SimRandom.stream(1, 'x'),
      new MemoryVfs(),
      null,
    );
    const fired: number[] = [];
    fast.setTimer(100, () => fired.push(s.now));
    await s.run(1000);
    expect(fired).toEqual([80]);
    expect(fast.monotonic()).toBe(1250);
    expect(fast.now()).toBe(SIM_EPOCH_MS + 1000 + 1250);
  });

  it('a killed node fires no timers and cannot touch its disk', async () => {
    const s = new Scheduler();
    const env = new SimEnv(
      'n1',
      s,
      { rate: 0, offsetMs: 0 },
      SimRandom.stream(1, 'x'),
      new MemoryVfs(),
      null,
    );
    let fired = 0;
    env.setTimer(10, () => fired++);
    env.kill();
    await s.run(100);
    expect(fired).toBe(0);
    await expect(env.vfs.open('a', 'create')).rejects.toThrow(/crashed/);
  });

  it('cancelled timers do not fire', async () => {
    const s = new Scheduler();
    const env = new SimEnv(
      'n1',
      s,
      { rate: 0, offsetMs: 0 },
      SimRandom.stream(1, 'x'),
      new MemoryVfs(),
      null,
    );
    let fired = 0;
    env.setTimer(10, () => fired++).cancel();
    env.setTimer(10, () => fired++);
    await s.run(100);
    expect(fired).toBe(1);
  });
});

describe('SimRandom', () => {
  it('streams are a function of (seed, purpose) and independent across purposes', () => {
    const a = SimRandom.stream(7, 'net');
    const b = SimRandom.stream(7, 'net');
    const c = SimRandom.stream(7, 'faults');
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});

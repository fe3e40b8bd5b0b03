import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRealEnv } from '../../src/env/real-env.js';
import { openEngine } from '../../src/storage/engine.js';

const root = new URL('../../', import.meta.url).pathname;
const built = existsSync(join(root, 'dist/src/storage/engine.js'));
const fixture = join(root, 'test/storage/fixtures/engine-writer.mjs');
if (!built) {
  console.warn(
    'engine-kill.test.ts skipped: dist/ is missing; run `npm run build` (npm test does)',
  );
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the writer child until SIGKILL after `killAfterMs`; returns the acknowledged batches. */
async function runAndKill(
  dir: string,
  t0: number,
  prefix: string,
  killAfterMs: number,
): Promise<Set<number>> {
  const child = spawn(process.execPath, [fixture, dir, String(t0), prefix], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked = new Set<number>();
  let buffered = '';
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('exit', (code, signal) =>
        reject(new Error(`child exited early (${code ?? signal}): ${stderr}`)),
      );
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (line === 'ready') setTimeout(() => resolve(), killAfterMs);
          else if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
        }
      });
    });
    child.kill('SIGKILL');
    await exited;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // Lines the child wrote before dying are acknowledgements too.
  for (const line of buffered.split('\n'))
    if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
  return acked;
}

describe.skipIf(!built)('crash recovery on real files (killed child process)', () => {
  it('keeps every acknowledged batch when the writer is SIGKILLed at a random moment', async () => {
    const t0 = Date.now() - 3600_000;
    const dir = mkdtempSync(join(tmpdir(), 'count-kill-'));
    dirs.push(dir);
    let total = 0;
    for (let round = 0; round < 3; round++) {
      const prefix = `k${round}`;
      const acked = await runAndKill(dir, t0, prefix, 300 + Math.floor(Math.random() * 900));
      total += acked.size;
      const engine = await openEngine(createRealEnv(dir), { blockRangeMs: 60_000 });
      try {
        for (let s = 0; s < 10; s++) {
          const got = await engine.readRange(`${prefix}{n="${s}"}`, t0, t0 + 1e9);
          const have = new Map<number, number>();
          for (let i = 0; i < got.timestamps.length; i++)
            have.set(got.timestamps[i], got.values[i]);
          for (const n of acked) {
            for (let j = 0; j < 10; j++) {
              const t = t0 + n * 10 + j;
              if (have.get(t) !== n * 1000 + s * 10 + j)
                throw new Error(`round ${round}: lost batch ${n} series ${s}`);
            }
          }
          for (const [t, v] of have) {
            const rel = t - t0;
            expect(v).toBe(Math.floor(rel / 10) * 1000 + s * 10 + (rel % 10));
          }
        }
      } finally {
        await engine.close();
      }
    }
    expect(total).toBeGreaterThan(0);
  });
});

import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  requireBuiltServer,
  SERVER_ENTRY,
  type ServerProcess,
  startServer,
  stopAllServers,
  tempDataDir,
} from '../helpers/server-process.js';

/**
 * The real count-server process over HTTP: start-up, flags, crash safety (kill -9 mid-load
 * loses nothing acknowledged) and graceful SIGTERM.
 */
afterAll(stopAllServers);

const BASE = Date.now() - 30 * 60_000;
const POINTS_PER_BATCH = 500;

/**
 * A writer posts batches of line protocol for its own series until told to stop; it records
 * the batches the server acknowledged (204). Batch b of writer w holds timestamps
 * BASE + b*POINTS_PER_BATCH + i with value b*1e6 + i.
 */
async function writer(
  server: ServerProcess,
  w: number,
  acked: number[],
  stop: () => boolean,
): Promise<void> {
  for (let b = 0; !stop(); b++) {
    const lines: string[] = [];
    for (let i = 0; i < POINTS_PER_BATCH; i++) {
      lines.push(`load,w=${w} v=${b * 1e6 + i} ${BASE + b * POINTS_PER_BATCH + i}`);
    }
    try {
      const r = await fetch(`${server.url}/write?precision=ms`, {
        method: 'POST',
        body: lines.join('\n'),
      });
      if (r.status === 204) acked.push(b);
      else if (r.status !== 503) throw new Error(`unexpected ${r.status}: ${await r.text()}`);
      else return; // shutting down
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('unexpected')) throw e;
      return; // the connection died: the server is gone
    }
  }
}

/** Every acknowledged point of every writer is readable, with its value. */
async function expectAcknowledged(server: ServerProcess, acked: number[][]): Promise<void> {
  for (let w = 0; w < acked.length; w++) {
    if (acked[w].length === 0) continue;
    const series = encodeURIComponent(`load.v{w="${w}"}`);
    const r = await fetch(`${server.url}/query/range/${series}?start=0&end=${2 ** 53}`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { points: { timestamp: number; value: number }[] };
    const got = new Map(body.points.map((p) => [p.timestamp, p.value]));
    let missing = 0;
    for (const b of acked[w]) {
      for (let i = 0; i < POINTS_PER_BATCH; i++) {
        if (got.get(BASE + b * POINTS_PER_BATCH + i) !== b * 1e6 + i) missing++;
      }
    }
    expect(missing, `writer ${w}: acknowledged points missing after restart`).toBe(0);
  }
}

async function runLoad(
  server: ServerProcess,
  writers: number,
  until: (acked: number[][]) => boolean,
): Promise<{ acked: number[][]; done: Promise<unknown>; stop: () => void }> {
  const acked = Array.from({ length: writers }, () => [] as number[]);
  let stopped = false;
  const done = Promise.all(acked.map((a, w) => writer(server, w, a, () => stopped)));
  const t0 = Date.now();
  while (!until(acked) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 10));
  return {
    acked,
    done,
    stop: () => {
      stopped = true;
    },
  };
}

describe('count-server process', () => {
  it('--help exits 0 and explains the flags; a bad flag fails at start with a clear message', () => {
    requireBuiltServer();
    const help = spawnSync(process.execPath, [SERVER_ENTRY, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--data-dir');
    expect(help.stdout).toContain('BIND_ADDRESS');
    const bad = spawnSync(process.execPath, [SERVER_ENTRY, '--bogus'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("unknown option '--bogus'");
    const badValue = spawnSync(process.execPath, [SERVER_ENTRY, '--fsync', 'never'], {
      encoding: 'utf8',
      cwd: REPO_ROOT,
    });
    expect(badValue.status).toBe(1);
    expect(badValue.stderr).toContain('--fsync');
  });

  it('serves /health, refuses cluster flags without --peer-bind, a taken port or data dir', async () => {
    const server = await startServer({ args: ['--node-id', 'solo'] });
    const health = await fetch(`${server.url}/health`);
    expect(await health.json()).toEqual({ status: 'ok', node: 'solo' });
    const noPeer = spawnSync(
      process.execPath,
      [
        SERVER_ENTRY,
        '--bind',
        '127.0.0.1:0',
        '--data-dir',
        tempDataDir(),
        '--seeds',
        '127.0.0.1:9',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(noPeer.status).toBe(1);
    expect(noPeer.stderr).toContain('needs --peer-bind');
    const clash = spawnSync(
      process.execPath,
      [SERVER_ENTRY, '--bind', `127.0.0.1:${server.port}`, '--data-dir', tempDataDir()],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(clash.status).toBe(1);
    expect(clash.stderr).toContain('EADDRINUSE');
    const sameDir = spawnSync(
      process.execPath,
      [SERVER_ENTRY, '--bind', '127.0.0.1:0', '--data-dir', server.dataDir],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(sameDir.status).toBe(1);
    expect(sameDir.stderr).toContain(`in use by process ${server.child.pid}`);
    expect(await server.signal('SIGTERM')).toBe(0);
  });

  it('kill -9 mid-load loses no acknowledged point (fsync batch), twice in a row', async () => {
    const dataDir = tempDataDir();
    const all: number[][] = [[], [], [], []];
    for (let round = 0; round < 2; round++) {
      const server = await startServer({ dataDir, args: ['--fsync', 'batch'] });
      const load = await runLoad(server, 4, (acked) => acked.every((a) => a.length >= 5 + round));
      server.child.kill('SIGKILL');
      await server.exited;
      load.stop();
      await load.done;
      for (let w = 0; w < 4; w++) all[w].push(...load.acked[w]);
      expect(load.acked.flat().length).toBeGreaterThan(0);
    }
    const server = await startServer({ dataDir });
    await expectAcknowledged(server, all);
    await server.signal('SIGTERM');
  });

  it('SIGTERM finishes in-flight writes, syncs, exits 0; everything acknowledged is there after restart', async () => {
    const dataDir = tempDataDir();
    const server = await startServer({ dataDir });
    const load = await runLoad(server, 3, (acked) => acked.every((a) => a.length >= 3));
    const code = await server.signal('SIGTERM');
    load.stop();
    await load.done;
    expect(code).toBe(0);
    expect(server.logs.some((l) => l.msg === 'stopped: WAL synced, storage closed')).toBe(true);
    const again = await startServer({ dataDir });
    await expectAcknowledged(again, load.acked);
    expect(await again.signal('SIGTERM')).toBe(0);
  });

  it('a second SIGTERM exits at once and still loses nothing acknowledged', async () => {
    const dataDir = tempDataDir();
    const server = await startServer({ dataDir });
    const load = await runLoad(server, 3, (acked) => acked.every((a) => a.length >= 3));
    server.child.kill('SIGTERM');
    server.child.kill('SIGTERM');
    const code = await server.exited;
    load.stop();
    await load.done;
    expect([0, 130]).toContain(code);
    const again = await startServer({ dataDir });
    await expectAcknowledged(again, load.acked);
    expect(await again.signal('SIGTERM')).toBe(0);
  });
});

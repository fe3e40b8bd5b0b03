import { execFile } from 'node:child_process';
import { join } from 'node:path';
import {
  REPO_ROOT,
  type ServerProcess,
  startServer,
  tempDataDir,
} from '../helpers/server-process.js';

/**
 * Real count-server processes on loopback, started with DESIGN.md's cluster flags (--node-id,
 * --bind, --peer-bind, --data-dir, --bootstrap | --seeds, --rf), for the multi-process tests
 * and bench/cluster.ts. A node keeps its data dir and ports across kill/restart, so a restart
 * is the same member coming back. Processes are killed by stopAllServers() (test/helpers).
 */
export const COUNTCTL_ENTRY = join(REPO_ROOT, 'dist/src/cli/countctl.js');

export interface ClusterMember {
  readonly id: string;
  readonly dataDir: string;
  httpPort: number;
  peerPort: number;
  proc: ServerProcess | null;
  readonly args: string[];
}

export interface CountctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface MemberStatusJson {
  id: string;
  state: string;
  liveness: string;
  raft: string;
}

export interface StatusJson {
  epoch: number;
  members: MemberStatusJson[];
  operation: unknown;
  raft: { leader: string | null; term: number };
}

export class LocalCluster {
  readonly members = new Map<string, ClusterMember>();

  constructor(private readonly extraArgs: string[] = []) {}

  /** Founds the cluster with `id` (--bootstrap --rf rf). */
  bootstrap(id: string, rf: number): Promise<ClusterMember> {
    return this.start(id, ['--bootstrap', '--rf', String(rf)]);
  }

  /** Starts a new node that joins through `seed`'s peer address; resolves once staged. */
  join(id: string, seed: string): Promise<ClusterMember> {
    return this.start(id, ['--seeds', `127.0.0.1:${this.member(seed).peerPort}`]);
  }

  private async start(id: string, clusterArgs: string[]): Promise<ClusterMember> {
    const m: ClusterMember = {
      id,
      dataDir: tempDataDir(`count-${id}-`),
      httpPort: 0,
      peerPort: 0,
      proc: null,
      args: clusterArgs,
    };
    this.members.set(id, m);
    await this.launch(m);
    return m;
  }

  private async launch(m: ClusterMember): Promise<void> {
    const proc = await startServer({
      dataDir: m.dataDir,
      readyTimeoutMs: 90_000,
      args: [
        '--node-id',
        m.id,
        '--bind',
        `127.0.0.1:${m.httpPort}`,
        '--peer-bind',
        `127.0.0.1:${m.peerPort}`,
        ...m.args,
        ...this.extraArgs,
      ],
    });
    const listening = proc.logs.find((l) => l.msg === 'listening');
    const peer = String(listening?.peerAddress ?? '');
    m.httpPort = proc.port;
    m.peerPort = Number(peer.slice(peer.lastIndexOf(':') + 1));
    m.proc = proc;
  }

  member(id: string): ClusterMember {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  url(id: string): string {
    return `http://127.0.0.1:${this.member(id).httpPort}`;
  }

  /** kill -9: no goodbye, no flush. */
  async kill(id: string): Promise<void> {
    const m = this.member(id);
    await m.proc?.signal('SIGKILL');
    m.proc = null;
  }

  /** SIGTERM: a clean stop; resolves with the exit code. */
  async stop(id: string): Promise<number | string | undefined> {
    const m = this.member(id);
    const code = await m.proc?.signal('SIGTERM');
    m.proc = null;
    return code;
  }

  /** Starts a stopped member again with its data dir and ports. */
  async restart(id: string): Promise<void> {
    const m = this.member(id);
    if (m.proc !== null) throw new Error(`${id} is running`);
    await this.launch(m);
  }

  countctl(args: string[], server = this.anyUrl()): Promise<CountctlResult> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [COUNTCTL_ENTRY, '--server', server, ...args],
        { cwd: REPO_ROOT, timeout: 120_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  async status(server = this.anyUrl()): Promise<StatusJson> {
    const r = await this.countctl(['--json', 'status'], server);
    if (r.code !== 0) throw new Error(`countctl status failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  /** Every running member sees all of `ids` normal and no operation in flight. */
  async waitForMembers(ids: string[], timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => {
        for (const m of this.members.values()) {
          if (m.proc === null) continue;
          const s = await this.status(this.url(m.id)).catch(() => null);
          if (s === null || s.operation !== null) return false;
          const normal = s.members.filter((x) => x.state === 'normal').map((x) => x.id);
          if (ids.some((id) => !normal.includes(id))) return false;
        }
        return true;
      },
      timeoutMs,
      `members ${ids.join(', ')} normal everywhere`,
    );
  }

  private anyUrl(): string {
    for (const m of this.members.values()) if (m.proc !== null) return this.url(m.id);
    throw new Error('no member is running');
  }
}

/** Polls `cond` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

/** Line protocol write (ms precision) at `consistency`. */
export async function writeLines(
  url: string,
  lines: string,
  consistency: 'one' | 'quorum' | 'all' = 'quorum',
): Promise<HttpAnswer> {
  const r = await fetch(`${url}/write?precision=ms&consistency=${consistency}`, {
    method: 'POST',
    body: lines,
    signal: AbortSignal.timeout(20_000),
  });
  const text = await r.text();
  return { status: r.status, body: text === '' ? null : JSON.parse(text) };
}

export async function readRange(
  url: string,
  series: string,
  consistency: 'one' | 'quorum' | 'all',
): Promise<HttpAnswer> {
  const r = await fetch(
    `${url}/query/range/${encodeURIComponent(series)}?start=0&end=9007199254740991&consistency=${consistency}`,
    { signal: AbortSignal.timeout(20_000) },
  );
  return { status: r.status, body: await r.json() };
}

export async function postQuery(url: string, body: unknown, params = ''): Promise<HttpAnswer> {
  const r = await fetch(`${url}/query${params}`, {
    method: 'POST',
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: r.status, body: await r.json() };
}

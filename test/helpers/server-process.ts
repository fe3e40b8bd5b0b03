import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Starts the real count-server (the BUILT dist/src/cli/count-server.js; `npm test` builds it,
 * in your own runs do `npx tsc -p tsconfig.json` first) on a free port, waits for its
 * 'listening' log line, and keeps its output for assertions. Every process started here is
 * killed by `stopAllServers()` (call it in afterAll), even when a test failed.
 */
// Compiled to dist/test/helpers too (bench/cluster.ts uses it from dist): the root is one more up.
// (import.meta.dirname would need Node 20.11; package.json promises >= 20.)
const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(
  HERE,
  /[\\/]dist[\\/]test[\\/]helpers$/.test(HERE) ? '../../..' : '../..',
);
export const SERVER_ENTRY = join(REPO_ROOT, 'dist/src/cli/count-server.js');

export interface StartOptions {
  /** Data directory; a fresh temp dir (removed by stopAllServers) when omitted. */
  dataDir?: string;
  /** Extra flags, e.g. ['--fsync', 'always']. --bind and --data-dir are set unless given. */
  args?: string[];
  env?: Record<string, string>;
  /** How long to wait for 'listening' (ms). */
  readyTimeoutMs?: number;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Parsed JSON log lines so far. */
  readonly logs: Record<string, unknown>[];
  /** Raw stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Sends a signal and waits for exit. */
  signal(sig: NodeJS.Signals): Promise<number | string>;
}

const running = new Set<ChildProcess>();
const tempDirs: string[] = [];

export function tempDataDir(prefix = 'count-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function requireBuiltServer(): void {
  if (!existsSync(SERVER_ENTRY)) {
    throw new Error(
      `${SERVER_ENTRY} is missing: build first (npm test builds; or npx tsc -p tsconfig.json)`,
    );
  }
}

export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  requireBuiltServer();
  const dataDir = options.dataDir ?? tempDataDir();
  const args = [...(options.args ?? [])];
  if (!args.includes('--bind')) args.push('--bind', '127.0.0.1:0');
  if (!args.includes('--data-dir')) args.push('--data-dir', dataDir);
  const child = spawn(process.execPath, [SERVER_ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let pending = '';
  const exited = new Promise<number | string>((res) => {
    child.on('exit', (code, sig) => {
      running.delete(child);
      res(code ?? sig ?? 'unknown');
    });
  });
  const listening = new Promise<number>((res, rej) => {
    const timer = setTimeout(
      () =>
        rej(
          new Error(
            `count-server not listening after ${options.readyTimeoutMs ?? 20000} ms; stderr: ${stderr}`,
          ),
        ),
      options.readyTimeoutMs ?? 20000,
    );
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'listening' && typeof entry.port === 'number') {
            clearTimeout(timer);
            res(entry.port);
          }
        } catch {
          logs.push({ raw: line });
        }
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`count-server exited (${code}) before listening; stderr: ${stderr}`));
    });
  });
  let port: number;
  try {
    port = await listening;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    logs,
    stderr: () => stderr,
    exited,
    signal(sig) {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      return exited;
    },
  };
}

/** Kills every server still running (SIGKILL) and removes temp data dirs. */
export async function stopAllServers(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of running) {
    waits.push(new Promise((res) => child.once('exit', res)));
    child.kill('SIGKILL');
  }
  await Promise.all(waits);
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

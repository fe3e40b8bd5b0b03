#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';

/**
 * countctl: cluster membership and operations over a node's /admin/cluster/... routes.
 *   countctl --server http://127.0.0.1:8081 status | ring | decommission n3 | remove n3
 *            | join n4 --http h:p --peer h:p | cancel | resume | raft transfer-leader n2
 * --server takes several comma-separated URLs (tried in turn until one answers); --json prints
 * machine-readable output; long operations show a progress bar until they finish (--no-wait
 * returns once the operation is staged). Exit codes: 0 ok, 1 the cluster refused (the error
 * code and message are printed), 2 no node answered, 3 bad usage.
 */

export interface CountctlIo {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal (progress redraws in place). */
  readonly tty: boolean;
  sleep(ms: number): Promise<void>;
}

const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export class ControlError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

interface GlobalOpts {
  server: string;
  json: boolean;
  timeout: string;
}

/** Talks to the first of the servers that answers. */
class AdminClient {
  private readonly servers: string[];
  private preferred = 0;

  constructor(
    servers: string,
    private readonly timeoutMs: number,
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly retries = 3,
  ) {
    this.servers = servers
      .split(',')
      .map((s) => s.trim().replace(/\/+$/, ''))
      .filter((s) => s.length > 0)
      .map((s) => (/^https?:\/\//.test(s) ? s : `http://${s}`));
    if (this.servers.length === 0) throw new ControlError(3, 'error: --server names no server');
  }

  /**
   * One request, to the first server that answers. A node that has left the cluster sends us
   * to the next server; 503/429 answers the server marks retryable (no metadata leader during
   * an election, overload) are retried a few times with backoff (changes are idempotent).
   */
  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.callOnce(method, path, body);
      } catch (e) {
        if (!(e instanceof RetryableAnswer) || attempt >= this.retries) {
          throw e instanceof RetryableAnswer ? e.error : e;
        }
        await this.sleep(500 * 2 ** attempt);
      }
    }
  }

  private async callOnce(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const failures: string[] = [];
    let refusal: ControlError | null = null;
    for (let i = 0; i < this.servers.length; i++) {
      const k = (this.preferred + i) % this.servers.length;
      const url = `${this.servers[k]}${path}`;
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          signal: AbortSignal.timeout(this.timeoutMs),
          ...(method === 'POST'
            ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) }
            : {}),
        });
      } catch (e) {
        failures.push(`${this.servers[k]} (${describeFetchError(e)})`);
        continue;
      }
      const text = await res.text();
      let parsed: unknown = null;
      try {
        parsed = text.length > 0 ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      if (res.ok) {
        this.preferred = k;
        return parsed;
      }
      const e = (parsed as { error?: ErrorBody } | null)?.error;
      // A single node answers the /admin/cluster routes with the API's JSON 404 for an unknown
      // route; a 404 about a node (not_found "node n9 is not a member") is a real answer.
      const noRoute =
        e === undefined || (e.code === 'not_found' && /^no route /.test(e.message ?? ''));
      if (res.status === 404 && noRoute) {
        throw new ControlError(1, `error: ${this.servers[k]} is not a cluster node (no ${path})`);
      }
      const error = new ControlError(
        1,
        `error: ${e?.code ?? `http_${res.status}`}: ${e?.message ?? (text || res.statusText)}`,
      );
      if (e?.details?.reason === 'left') {
        refusal = error;
        continue;
      }
      this.preferred = k;
      if (res.status === 503 || res.status === 429) {
        if (e?.code !== undefined && RETRYABLE.has(e.code)) throw new RetryableAnswer(error);
      }
      throw error;
    }
    if (refusal !== null) throw refusal;
    throw new ControlError(2, `error: no node answered: ${failures.join('; ')}`);
  }
}

interface ErrorBody {
  code?: string;
  message?: string;
  details?: { reason?: string };
}

/** Codes the server marks retryable (src/model/errors.ts). */
const RETRYABLE = new Set([
  'consistency_unavailable',
  'overloaded',
  'shutting_down',
  'stale_epoch',
  'memory_limit_exceeded',
]);

class RetryableAnswer extends Error {
  constructor(readonly error: ControlError) {
    super(error.message);
  }
}

function describeFetchError(e: unknown): string {
  const err = e as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (err.name === 'TimeoutError') return 'timed out';
  return err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
}

interface StatusJson {
  node: string;
  epoch: number;
  rf: number;
  raft: { role: string; leader: string | null; term: number; voters: string[]; learners: string[] };
  members: {
    id: string;
    state: string;
    liveness: string;
    raft: string;
    tokens: number;
    epoch: number | null;
    httpAddress: string;
    peerAddress: string;
  }[];
  operation: { id: number; kind: string; node: string; step: string; ranges: unknown[] } | null;
  lastOperation: { id: number; kind: string; node: string; outcome: string; epoch: number } | null;
  progress: {
    opId: number;
    phase: string;
    streamsDone: number;
    streamsTotal: number;
    points: number;
    error: string | null;
  } | null;
}

/** Left-aligned columns. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, r[i].length);
  }
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function memberTable(s: StatusJson): string {
  return table([
    ['ID', 'STATE', 'LIVENESS', 'RAFT', 'TOKENS', 'EPOCH', 'HTTP', 'PEER'],
    ...s.members.map((m) => [
      m.id,
      m.state,
      m.liveness,
      m.raft,
      String(m.tokens),
      m.epoch === null ? '-' : String(m.epoch),
      m.httpAddress,
      m.peerAddress,
    ]),
  ]);
}

function formatStatus(s: StatusJson): string {
  const lines = [
    `node ${s.node}  epoch ${s.epoch}  rf ${s.rf}  raft leader ${s.raft.leader ?? 'none'}  term ${s.raft.term}`,
    '',
    memberTable(s),
  ];
  if (s.operation !== null) {
    const p = s.progress !== null && s.progress.opId === s.operation.id ? s.progress : null;
    const detail =
      p === null
        ? 'not running: resume or cancel it'
        : `${p.phase}${p.streamsTotal > 0 ? ` ${p.streamsDone}/${p.streamsTotal} streams` : ''}${
            p.error === null ? '' : `, failed: ${p.error}`
          }`;
    lines.push(
      '',
      `operation ${s.operation.id}: ${s.operation.kind} of ${s.operation.node}, step ${s.operation.step} (${detail})`,
    );
  } else if (s.lastOperation !== null) {
    const l = s.lastOperation;
    lines.push(
      '',
      `last operation ${l.id}: ${l.kind} of ${l.node} ${l.outcome} at epoch ${l.epoch}`,
    );
  }
  return lines.join('\n');
}

export function progressBar(done: number, total: number, width = 30): string {
  const frac = total <= 0 ? 0 : Math.min(1, done / total);
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** Polls status until operation `opId` is no longer in flight; draws progress on stderr. */
async function follow(
  client: AdminClient,
  io: CountctlIo,
  opId: number,
  json: boolean,
  maxPolls = 100_000,
): Promise<StatusJson> {
  let lastLine = '';
  for (let i = 0; i < maxPolls; i++) {
    const s = (await client.call('GET', '/admin/cluster/status')) as StatusJson;
    if (s.operation === null || s.operation.id !== opId) {
      if (!json && io.tty && lastLine !== '') io.err('\n');
      return s;
    }
    const p = s.progress !== null && s.progress.opId === opId ? s.progress : null;
    if (p !== null && p.phase === 'failed') {
      if (!json && io.tty && lastLine !== '') io.err('\n');
      throw new ControlError(
        1,
        `error: ${s.operation.kind} of ${s.operation.node} stopped at step ${s.operation.step}: ${p.error}\n` +
          'the operation is still in flight: `countctl resume` retries it, `countctl cancel` undoes it',
      );
    }
    if (!json) {
      const line = `${s.operation.kind} ${s.operation.node}: ${p?.phase ?? s.operation.step} ${progressBar(
        p?.streamsDone ?? 0,
        p?.streamsTotal ?? 0,
      )}`;
      if (line !== lastLine) {
        io.err(io.tty ? `\r${line}` : `${line}\n`);
        lastLine = line;
      }
    }
    await io.sleep(500);
  }
  throw new ControlError(1, 'error: gave up waiting for the operation');
}

/** Runs countctl with `argv` (without node and script); resolves with the exit code. */
export async function runCountctl(argv: readonly string[], io: CountctlIo): Promise<number> {
  const program = new Command();
  let exit = 0;
  const globals = (): GlobalOpts => program.opts<GlobalOpts>();
  const client = (): AdminClient => {
    const ms = Number(globals().timeout);
    if (!Number.isFinite(ms) || ms <= 0)
      throw new ControlError(3, 'error: --timeout must be a positive number');
    return new AdminClient(globals().server, ms, io.sleep);
  };
  const print = (value: unknown, text: () => string): void => {
    io.out(`${globals().json ? JSON.stringify(value, null, 2) : text()}\n`);
  };
  const staged = async (
    path: string,
    body: Record<string, unknown>,
    wait: boolean,
    what: string,
  ) => {
    const c = client();
    const r = (await c.call('POST', path, body)) as { opId: number | null; epoch?: number };
    if (!wait || r.opId === null) {
      print(r, () => `${what}: staged as operation ${r.opId ?? '-'}`);
      return;
    }
    const s = await follow(c, io, r.opId, globals().json);
    const done = s.lastOperation?.id === r.opId ? s.lastOperation : null;
    print({ opId: r.opId, outcome: done?.outcome ?? 'finished', epoch: s.epoch }, () =>
      done === null
        ? `${what}: operation ${r.opId} is no longer in flight (epoch ${s.epoch})`
        : `${what}: ${done.outcome} at epoch ${done.epoch}`,
    );
    if (done?.outcome === 'cancelled') exit = 1;
  };

  program
    .name('countctl')
    .description('Cluster membership and operations for Count')
    .option(
      '--server <urls>',
      'node URL(s), comma-separated',
      process.env.COUNT_SERVER ?? DEFAULT_SERVER,
    )
    .option('--json', 'machine-readable output', false)
    .option('--timeout <ms>', 'per-request timeout', '10000')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });

  program
    .command('status')
    .description('members, states, liveness, Raft leader and term, epoch')
    .action(async () => {
      const s = (await client().call('GET', '/admin/cluster/status')) as StatusJson;
      print(s, () => formatStatus(s));
    });
  program
    .command('members')
    .description('the member table of status')
    .action(async () => {
      const s = (await client().call('GET', '/admin/cluster/status')) as StatusJson;
      print({ members: s.members }, () => memberTable(s));
    });
  program
    .command('ring')
    .description('token ranges and their replicas')
    .action(async () => {
      const r = (await client().call('GET', '/admin/cluster/ring')) as {
        epoch: number;
        rf: number;
        ranges: { start: string; end: string; replicas: string[]; writeReplicas: string[] }[];
      };
      print(r, () =>
        [
          `epoch ${r.epoch}  rf ${r.rf}  ${r.ranges.length} ranges`,
          table([
            ['START (excl)', 'END (incl)', 'REPLICAS', 'PENDING'],
            ...r.ranges.map((x) => [
              x.start,
              x.end,
              x.replicas.join(','),
              x.writeReplicas.filter((id) => !x.replicas.includes(id)).join(',') || '-',
            ]),
          ]),
        ].join('\n'),
      );
    });
  program
    .command('join <node>')
    .description('stage the join of a node (normally the node asks itself, with --seeds)')
    .requiredOption('--http <address>', "the node's HTTP address")
    .requiredOption('--peer <address>', "the node's peer address")
    .option('--no-wait', 'return once staged')
    .action(async (node: string, o: { http: string; peer: string; wait: boolean }) => {
      await staged(
        '/admin/cluster/join',
        { node, httpAddress: o.http, peerAddress: o.peer },
        o.wait,
        `join ${node}`,
      );
    });
  for (const action of ['decommission', 'remove'] as const) {
    program
      .command(`${action} <node>`)
      .description(
        action === 'decommission'
          ? 'move a live node out of the ring, streaming its data away first'
          : 'take a dead node out of the ring, re-replicating from the survivors',
      )
      .option('--no-wait', 'return once staged')
      .action(async (node: string, o: { wait: boolean }) => {
        await staged(`/admin/cluster/${action}`, { node }, o.wait, `${action} ${node}`);
      });
  }
  program
    .command('cancel')
    .description('undo the operation in flight')
    .action(async () => {
      const r = (await client().call('POST', '/admin/cluster/cancel', {})) as {
        opId: number;
        epoch: number;
      };
      print(r, () => `cancelled operation ${r.opId} (epoch ${r.epoch})`);
    });
  program
    .command('resume')
    .description('run the remaining steps of an interrupted operation')
    .option('--no-wait', 'return once resumed')
    .action(async (o: { wait: boolean }) => {
      await staged('/admin/cluster/resume', {}, o.wait, 'resume');
    });
  program
    .command('repair')
    .description(
      'anti-entropy now on the node countctl talks to: Merkle comparison of the ranges it initiates with their live replicas',
    )
    .action(async () => {
      const r = (await client().call('POST', '/admin/cluster/repair', {})) as {
        node: string;
        slots: number;
        entries: number;
        pulled: number;
        pushed: number;
      };
      print(
        r,
        () =>
          `repair on ${r.node}: ${r.slots} differing slot(s), ${r.entries} (series, bucket) entries; ${r.pulled} point(s) pulled, ${r.pushed} pushed`,
      );
    });
  const raft = program.command('raft').description('metadata Raft group');
  raft
    .command('transfer-leader <node>')
    .description('hand Raft leadership to a voter')
    .action(async (node: string) => {
      const r = await client().call('POST', '/admin/cluster/raft/transfer-leader', { node });
      print(r, () => `leadership transfer to ${node} requested`);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exit;
  } catch (e) {
    if (e instanceof ControlError) {
      io.err(`${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 3;
    }
    io.err(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

function isMain(): boolean {
  try {
    return (
      process.argv[1] !== undefined &&
      realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    );
  } catch {
    return false;
  }
}

if (isMain()) {
  const code = await runCountctl(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    tty: process.stderr.isTTY === true,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  process.exitCode = code;
}

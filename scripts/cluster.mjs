#!/usr/bin/env node
// `npm run cluster -- --nodes 3`: a local Count cluster on loopback, for trying things out.
// Starts n1 with --bootstrap and the others with --seeds <n1's peer address>, one after the
// other, each waited on until it logs 'listening' (for a joiner: its join is staged). Data
// dirs are ./data/cluster/nK (kept between runs: a second run restarts the same cluster; use
// --clean to start over), logs ./data/cluster/nK.log. Ctrl-C (SIGINT) or SIGTERM sends SIGTERM
// to every node, waits for them to exit (SIGKILL after --stop-timeout) and exits.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = join(ROOT, 'dist/src/cli/count-server.js');

const USAGE = `usage: npm run cluster -- [--nodes N] [--http-port P] [--peer-port P] [--rf N]
                           [--data-root DIR] [--clean] [--stop-timeout MS] [-- count-server flags]
  --nodes N         nodes to start, 1..9 (default 3)
  --http-port P     HTTP port of n1; nK gets P+K-1 (default 8081; 0 = free ports)
  --peer-port P     peer port of n1; nK gets P+K-1 (default 9081; 0 = free ports)
  --rf N            replication factor given at bootstrap (default 3)
  --data-root DIR   parent of the data dirs n1..nN (default ./data/cluster)
  --clean           delete the data dirs first (a new cluster)
  --stop-timeout MS wait this long for the nodes to exit on Ctrl-C before SIGKILL (default 30000)
Flags after -- go to every count-server (e.g. -- --fsync interval --log-level warn).`;

function fail(message) {
  process.stderr.write(`cluster: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      nodes: { type: 'string', default: '3' },
      'http-port': { type: 'string', default: '8081' },
      'peer-port': { type: 'string', default: '9081' },
      rf: { type: 'string', default: '3' },
      'data-root': { type: 'string', default: 'data/cluster' },
      clean: { type: 'boolean', default: false },
      'stop-timeout': { type: 'string', default: '30000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (e) {
  fail(e.message);
}
const o = parsed.values;
if (o.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const int = (name, min, max) => {
  const n = Number(o[name]);
  if (!Number.isInteger(n) || n < min || n > max)
    fail(`--${name} must be an integer ${min}..${max}`);
  return n;
};
const nodes = int('nodes', 1, 9);
const httpPort = int('http-port', 0, 65535 - nodes);
const peerPort = int('peer-port', 0, 65535 - nodes);
const rf = int('rf', 1, 9);
const stopTimeoutMs = int('stop-timeout', 100, 600_000);
const dataRoot = resolve(o['data-root']);
const extra = parsed.positionals;

if (!existsSync(SERVER)) fail(`${SERVER} is missing: run npm run build first`);
if (o.clean) rmSync(dataRoot, { recursive: true, force: true });
mkdirSync(dataRoot, { recursive: true });

/** @type {{ id: string, child: import('node:child_process').ChildProcess, exited: Promise<unknown> }[]} */
const running = [];
let stopping = false;

function startNode(k, seed) {
  const id = `n${k}`;
  const http = `127.0.0.1:${httpPort === 0 ? 0 : httpPort + k - 1}`;
  const peer = `127.0.0.1:${peerPort === 0 ? 0 : peerPort + k - 1}`;
  const args = [SERVER, '--node-id', id, '--bind', http, '--peer-bind', peer];
  args.push('--data-dir', join(dataRoot, id), '--rf', String(rf));
  if (seed === null) args.push('--bootstrap');
  else args.push('--seeds', seed);
  args.push(...extra);
  const log = createWriteStream(join(dataRoot, `${id}.log`), { flags: 'a' });
  // Own process group: Ctrl-C in the terminal reaches only the launcher, which stops the nodes
  // with one SIGTERM each (a second signal would make a node exit without its clean shutdown).
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise((res) => child.once('exit', (code, sig) => res(code ?? sig)));
  running.push({ id, child, exited });
  child.stderr.pipe(log, { end: false });
  return new Promise((res, rej) => {
    let pending = '';
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        if (entry.msg === 'listening') res({ id, http: entry.bind, peer: entry.peerAddress });
      }
    });
    void exited.then((code) => {
      if (!stopping) {
        process.stderr.write(
          `cluster: ${id} exited (${code}); see ${join(dataRoot, `${id}.log`)}\n`,
        );
        rej(new Error(`${id} exited (${code}) ${stderr.trim()}`));
      }
    });
  });
}

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\ncluster: stopping ${running.length} node(s)\n`);
  const kill = setTimeout(() => {
    for (const r of running) r.child.kill('SIGKILL');
  }, stopTimeoutMs);
  for (const r of running) r.child.kill('SIGTERM');
  const codes = await Promise.all(running.map((r) => r.exited));
  clearTimeout(kill);
  running.forEach((r, i) => {
    process.stderr.write(`cluster: ${r.id} exited (${codes[i]})\n`);
  });
  process.exit(code);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

try {
  const first = await startNode(1, null);
  const started = [first];
  for (let k = 2; k <= nodes; k++) started.push(await startNode(k, first.peer));
  process.stdout.write(`Count cluster of ${nodes} node(s) (data and logs in ${dataRoot})\n`);
  for (const s of started) {
    process.stdout.write(`  ${s.id}  http://${s.http}  peer ${s.peer}\n`);
  }
  process.stdout.write(
    `Try: npx countctl --server http://${first.http} status\n` +
      `     curl -XPOST 'http://${first.http}/write?precision=ms' --data-binary 'cpu,host=h1 usage=1.5 ${Date.now()}'\n` +
      'Ctrl-C stops every node.\n',
  );
  // Any node dying later is reported; the others keep running until Ctrl-C.
  for (const r of running) {
    void r.exited.then((code) => {
      if (!stopping) process.stderr.write(`cluster: ${r.id} exited (${code})\n`);
    });
  }
} catch (e) {
  process.stderr.write(`cluster: failed to start: ${e.message}\n`);
  await stopAll(1);
}

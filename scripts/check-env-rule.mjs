#!/usr/bin/env node
// The environment rule (DESIGN.md): code in raft/, src/cluster, src/distributed and src/storage
// takes time, randomness, network and disk from Env, so the simulator can replace them.
// This check fails the lint step when one of those folders touches the outside world directly.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const folders = ['raft', 'src/cluster', 'src/distributed', 'src/storage'];
const forbidden = [
  [/\bDate\.now\s*\(/, 'Date.now() (use env.now())'],
  [/\bnew Date\s*\(\s*\)/, 'new Date() (use env.now())'],
  [/\bMath\.random\s*\(/, 'Math.random() (use env.random())'],
  [/\bperformance\.now\s*\(/, 'performance.now() (use env.monotonic())'],
  [/\bprocess\.hrtime\b/, 'process.hrtime (use env.monotonic())'],
  [/(^|[^.\w])set(Timeout|Interval|Immediate)\s*\(/, 'timers (use env.setTimer())'],
  [/(^|[^.\w])queueMicrotask\s*\(/, 'queueMicrotask'],
  [
    /from\s+['"](node:)?(fs|fs\/promises|net|dgram|http|https|http2|child_process|worker_threads|ws)['"]/,
    'I/O module import (use env.vfs or the transport)',
  ],
  [/\brequire\s*\(/, 'require()'],
  [/\bimport\s*\(\s*['"]/, 'dynamic import'],
];

function* walk(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) yield path;
  }
}

let failures = 0;
for (const folder of folders) {
  for (const file of walk(join(root, folder))) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      for (const [pattern, what] of forbidden) {
        if (pattern.test(code)) {
          console.error(`${relative(root, file)}:${i + 1}: ${what}: ${line.trim()}`);
          failures++;
        }
      }
    });
  }
}
if (failures > 0) {
  console.error(`env rule: ${failures} violation(s); see DESIGN.md, "The environment rule"`);
  process.exit(1);
}

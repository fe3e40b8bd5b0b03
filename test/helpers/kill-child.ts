import { spawn } from 'node:child_process';
import { basename } from 'node:path';

/**
 * The crash tests' child process: `node <fixture> ...args` prints `ack N` for each record it
 * has made durable; `killWhen` sees every line (after its ack is counted) and calls `kill`
 * when the test wants the power cut. The child is then SIGKILLed and awaited, even when it
 * died early (which fails the run with its stderr). Returns every N acknowledged, including
 * lines that arrived while it died.
 */
export async function runUntilKilled(
  fixture: string,
  args: readonly string[],
  killWhen: (line: string, acked: ReadonlySet<number>, kill: () => void) => void,
): Promise<Set<number>> {
  const child = spawn(process.execPath, [fixture, ...args], {
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
        reject(new Error(`${basename(fixture)} exited early (${code ?? signal}): ${stderr}`)),
      );
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
          killWhen(line, acked, resolve);
        }
      });
    });
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  if (buffered.startsWith('ack ')) acked.add(Number(buffered.slice(4)));
  return acked;
}

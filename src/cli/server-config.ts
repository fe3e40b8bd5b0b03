import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isCountError } from '../model/errors.js';
import { type LogLevels, parseLogLevels } from '../server/logger.js';
import type { FsyncMode } from '../storage/engine.js';

/**
 * count-server's configuration: flags, or the environment variables NODE_ID, BIND_ADDRESS,
 * DATA_DIR, LOG_LEVEL and SEEDS (DESIGN.md). A flag beats its environment variable; with
 * neither, the default applies, so zero configuration is a single node on 127.0.0.1:8080 with
 * data in ./data. Every value is validated here, before anything starts.
 */
export interface HostPort {
  host: string;
  port: number;
}

export interface ServerConfig {
  nodeId: string;
  bind: HostPort;
  peerBind: HostPort | undefined;
  dataDir: string;
  seeds: HostPort[];
  bootstrap: boolean;
  rf: number;
  logLevels: LogLevels;
  fsync: FsyncMode;
  fsyncIntervalMs: number;
  retentionMs: number;
  outOfOrderWindowMs: number;
  bodyLimitBytes: number;
  headMemoryLimitBytes: number;
  maxInflightWrites: number;
  maxInflightQueries: number;
  seriesKeyCacheKeys: number;
  shutdownTimeoutMs: number;
}

export const DEFAULT_BIND = '127.0.0.1:8080';

/** Output sinks for help and errors (tests capture them; the program uses the process's). */
export interface ConfigOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/**
 * Parses argv (without `node` and the script) and the environment. Throws CommanderError
 * after writing help (exitCode 0) or a one-line error naming the flag or variable (exitCode 1).
 */
export function parseServerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  output?: ConfigOutput,
): ServerConfig {
  const program = new Command('count-server')
    .description(
      'Count time-series database server. With no options: a single node on 127.0.0.1:8080 with data in ./data.',
    )
    .exitOverride()
    .allowExcessArguments(false)
    .showHelpAfterError('(run count-server --help for the list of options)')
    .addOption(
      new Option('--node-id <id>', 'unique node name, [A-Za-z0-9_.-], at most 64 characters')
        .default(undefined, 'env NODE_ID, else n1')
        .argParser(wrap(parseNodeId)),
    )
    .addOption(
      new Option('--bind <host:port>', 'HTTP API address (port 0 picks a free port)')
        .default(undefined, `env BIND_ADDRESS, else ${DEFAULT_BIND}`)
        .argParser(wrap(parseHostPort)),
    )
    .addOption(
      new Option(
        '--peer-bind <host:port>',
        'peer transport address, advertised to the other nodes (cluster mode; needed with --bootstrap or --seeds)',
      ).argParser(wrap(parseHostPort)),
    )
    .addOption(
      new Option('--data-dir <dir>', 'directory for the WAL and blocks').default(
        undefined,
        'env DATA_DIR, else ./data',
      ),
    )
    .addOption(
      new Option(
        '--seeds <list>',
        'comma-separated host:port peer addresses of members to join through (cluster mode)',
      )
        .default(undefined, 'env SEEDS, else none')
        .argParser(wrap(parseSeeds)),
    )
    .addOption(
      new Option(
        '--bootstrap',
        'form a new cluster with this node (cluster mode; a no-op when the data dir already holds one)',
      ),
    )
    .addOption(
      new Option('--rf <n>', 'replication factor set at bootstrap, 1..9 (cluster mode)')
        .default(3)
        .argParser(wrap((t) => parseIntegerIn(t, 1, 9))),
    )
    .addOption(
      new Option(
        '--log-level <spec>',
        'level (fatal|error|warn|info|debug|trace|silent) and per-module overrides, e.g. info,http=debug',
      )
        .default(undefined, 'env LOG_LEVEL, else info')
        .argParser(wrap((t) => parseLogLevels(t))),
    )
    .addOption(
      new Option(
        '--fsync <mode>',
        'WAL durability: always (fsync per write), batch (writes share an fsync before they are acknowledged), interval (fsync every --fsync-interval; may lose that much)',
      )
        .choices(['always', 'batch', 'interval'])
        .default('batch'),
    )
    .addOption(
      new Option('--fsync-interval <duration>', 'WAL fsync period in interval mode, e.g. 1s, 200ms')
        .default(1000, '1s')
        .argParser(wrap((t) => positive(parseDuration(t)))),
    )
    .addOption(
      new Option(
        '--retention <duration>',
        'delete data older than this, e.g. 30d; 0 keeps everything',
      )
        .default(0, '0 (keep everything)')
        .argParser(wrap(parseDuration)),
    )
    .addOption(
      new Option(
        '--out-of-order-window <duration>',
        'accept points this much older than the newest point of the head',
      )
        .default(3_600_000, '1h')
        .argParser(wrap(parseDuration)),
    )
    .addOption(
      new Option('--body-limit <size>', 'largest request body (after gzip decoding), e.g. 32MiB')
        .default(32 * 1024 * 1024, '32MiB')
        .argParser(wrap((t) => positive(parseByteSize(t)))),
    )
    .addOption(
      new Option(
        '--head-memory-limit <size>',
        'memory for unflushed points; past it writes get 503 memory_limit_exceeded with Retry-After',
      )
        .default(1024 * 1024 * 1024, '1GiB')
        .argParser(wrap((t) => positive(parseByteSize(t)))),
    )
    .addOption(
      new Option(
        '--max-inflight-writes <n>',
        'concurrent write requests; more get 429 overloaded with Retry-After',
      )
        .default(64)
        .argParser(wrap((t) => parseIntegerIn(t, 1, 100_000))),
    )
    .addOption(
      new Option(
        '--max-inflight-queries <n>',
        'concurrent range reads, aggregates and queries; more get 429 overloaded with Retry-After',
      )
        .default(32)
        .argParser(wrap((t) => parseIntegerIn(t, 1, 100_000))),
    )
    .addOption(
      new Option(
        '--series-key-cache <n>',
        'line protocol series keys kept between requests (~300 bytes each); above the number of series you write, or ingest slows',
      )
        .default(250_000)
        .argParser(wrap((t) => parseIntegerIn(t, 1, 100_000_000))),
    )
    .addOption(
      new Option(
        '--shutdown-timeout <duration>',
        'on SIGTERM, how long in-flight requests may take before the server exits anyway',
      )
        .default(30_000, '30s')
        .argParser(wrap((t) => positive(parseDuration(t)))),
    )
    .addHelpText(
      'after',
      '\nEnvironment: NODE_ID, BIND_ADDRESS, DATA_DIR, LOG_LEVEL, SEEDS (a flag wins over its variable).\nDurations: 250ms, 10s, 5m, 1h, 30d, 1w or combined (1h30m); a plain number is milliseconds.\nSizes: bytes, or with KB/MB/GB (powers of 1000) or KiB/MiB/GiB (powers of 1024).\nSIGTERM stops accepting, finishes in-flight requests, syncs the WAL and exits 0.',
    );
  if (output !== undefined) program.configureOutput(output);

  program.parse([...argv], { from: 'user' });
  const o = program.opts();

  const fromEnv = <T>(name: string, flag: string, parse: (t: string) => T): T | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    try {
      return parse(text);
    } catch (e) {
      program.error(
        `error: environment variable ${name} (for ${flag}) is invalid: ${errorText(e)}`,
        { code: 'count.invalidEnv' },
      );
    }
  };

  return {
    nodeId: o.nodeId ?? fromEnv('NODE_ID', '--node-id', parseNodeId) ?? 'n1',
    bind: o.bind ?? fromEnv('BIND_ADDRESS', '--bind', parseHostPort) ?? parseHostPort(DEFAULT_BIND),
    peerBind: o.peerBind,
    dataDir: o.dataDir ?? fromEnv('DATA_DIR', '--data-dir', (t) => t) ?? './data',
    seeds: o.seeds ?? fromEnv('SEEDS', '--seeds', parseSeeds) ?? [],
    bootstrap: o.bootstrap === true,
    rf: o.rf,
    logLevels: o.logLevel ??
      fromEnv('LOG_LEVEL', '--log-level', (t) => parseLogLevels(t)) ?? {
        level: 'info',
        modules: {},
      },
    fsync: o.fsync,
    fsyncIntervalMs: o.fsyncInterval,
    retentionMs: o.retention,
    outOfOrderWindowMs: o.outOfOrderWindow,
    bodyLimitBytes: o.bodyLimit,
    headMemoryLimitBytes: o.headMemoryLimit,
    maxInflightWrites: o.maxInflightWrites,
    maxInflightQueries: o.maxInflightQueries,
    seriesKeyCacheKeys: o.seriesKeyCache,
    shutdownTimeoutMs: o.shutdownTimeout,
  };
}

/** True when a CommanderError only reports that help or the version was printed. */
export function isHelpExit(e: unknown): boolean {
  return (
    e instanceof CommanderError &&
    (e.code === 'commander.helpDisplayed' ||
      e.code === 'commander.help' ||
      e.code === 'commander.version')
  );
}

function wrap<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (e) {
      throw new InvalidArgumentError(errorText(e));
    }
  };
}

function errorText(e: unknown): string {
  if (isCountError(e) || e instanceof Error) return e.message;
  return String(e);
}

export function parseNodeId(text: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(text)) {
    throw new Error(
      `a node id is 1 to 64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit, got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

/** `host:port`, `[v6]:port`; port 0..65535. */
export function parseHostPort(text: string): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim());
  if (m === null)
    throw new Error(`expected host:port (e.g. 127.0.0.1:8080), got ${JSON.stringify(text)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port must be 0..65535, got ${port}`);
  return { host: m[1] ?? m[2], port };
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export function parseSeeds(text: string): HostPort[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new Error('expected a comma-separated list of host:port');
  if (parts.length > 64) throw new Error('at most 64 seeds');
  return parts.map(parseHostPort);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `250ms`, `10s`, `5m`, `1h`, `30d`, `1w`, combinations such as `1h30m`; a plain integer is ms. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d{1,15}$/.test(t)) return Number(t);
  const re = /(\d{1,12})(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== t.length) {
    throw new Error(
      `expected a duration such as 500ms, 10s, 5m, 1h, 30d, got ${JSON.stringify(text)}`,
    );
  }
  return total;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Bytes: `1048576`, `512KiB`, `32MiB`, `1GB`. */
export function parseByteSize(text: string): number {
  const m = /^(\d{1,15}(?:\.\d{1,6})?)\s*([A-Za-z]{0,3})$/.exec(text.trim());
  const unit = m === null ? undefined : SIZE_UNITS[m[2].toLowerCase()];
  if (m === null || unit === undefined) {
    throw new Error(
      `expected a size such as 1048576, 512KiB, 32MiB or 1GB, got ${JSON.stringify(text)}`,
    );
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new Error(`size too large: ${JSON.stringify(text)}`);
  return bytes;
}

function parseIntegerIn(text: string, min: number, max: number): number {
  const t = text.trim();
  if (!/^\d{1,9}$/.test(t) || Number(t) < min || Number(t) > max) {
    throw new Error(`expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(t);
}

function positive(n: number): number {
  if (n <= 0) throw new Error('must be greater than 0');
  return n;
}

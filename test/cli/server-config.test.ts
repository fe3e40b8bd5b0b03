import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  isHelpExit,
  parseByteSize,
  parseDuration,
  parseHostPort,
  parseServerConfig,
} from '../../src/cli/server-config.js';

function run(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  try {
    const config = parseServerConfig(argv, env, {
      writeOut: (t) => out.push(t),
      writeErr: (t) => err.push(t),
    });
    return { config, out: out.join(''), err: err.join(''), error: undefined };
  } catch (e) {
    expect(e).toBeInstanceOf(CommanderError);
    return { config: undefined, out: out.join(''), err: err.join(''), error: e as CommanderError };
  }
}

describe('count-server configuration', () => {
  it('zero configuration is a single node on 127.0.0.1:8080 with data in ./data', () => {
    const { config } = run([]);
    expect(config).toMatchObject({
      nodeId: 'n1',
      bind: { host: '127.0.0.1', port: 8080 },
      dataDir: './data',
      seeds: [],
      bootstrap: false,
      rf: 3,
      fsync: 'batch',
      logLevels: { level: 'info', modules: {} },
      retentionMs: 0,
      bodyLimitBytes: 32 * 1024 * 1024,
    });
    expect(config?.peerBind).toBeUndefined();
  });

  it('reads the DESIGN.md cluster flags', () => {
    const { config } = run([
      '--node-id',
      'n2',
      '--bind',
      '127.0.0.1:8082',
      '--peer-bind',
      '127.0.0.1:9082',
      '--data-dir',
      'd2',
      '--seeds',
      '127.0.0.1:9081,[::1]:9083',
      '--rf',
      '2',
      '--bootstrap',
    ]);
    expect(config).toMatchObject({
      nodeId: 'n2',
      bind: { host: '127.0.0.1', port: 8082 },
      peerBind: { host: '127.0.0.1', port: 9082 },
      dataDir: 'd2',
      seeds: [
        { host: '127.0.0.1', port: 9081 },
        { host: '::1', port: 9083 },
      ],
      rf: 2,
      bootstrap: true,
    });
  });

  it('reads the operational flags', () => {
    const { config } = run([
      '--fsync',
      'always',
      '--fsync-interval',
      '250ms',
      '--retention',
      '30d',
      '--body-limit',
      '1MiB',
      '--head-memory-limit',
      '2GB',
      '--log-level',
      'warn,http=debug',
      '--out-of-order-window',
      '2h',
      '--max-inflight-writes',
      '8',
      '--max-inflight-queries',
      '4',
      '--series-key-cache',
      '1000',
      '--shutdown-timeout',
      '5s',
    ]);
    expect(config).toMatchObject({
      fsync: 'always',
      fsyncIntervalMs: 250,
      retentionMs: 30 * 86_400_000,
      bodyLimitBytes: 1024 * 1024,
      headMemoryLimitBytes: 2e9,
      logLevels: { level: 'warn', modules: { http: 'debug' } },
      outOfOrderWindowMs: 7_200_000,
      maxInflightWrites: 8,
      maxInflightQueries: 4,
      seriesKeyCacheKeys: 1000,
      shutdownTimeoutMs: 5000,
    });
  });

  it('takes NODE_ID, BIND_ADDRESS, DATA_DIR, LOG_LEVEL and SEEDS from the environment; flags win', () => {
    const env = {
      NODE_ID: 'env-node',
      BIND_ADDRESS: '0.0.0.0:9000',
      DATA_DIR: '/var/lib/count',
      LOG_LEVEL: 'debug',
      SEEDS: 'a.example:9081',
    };
    expect(run([], env).config).toMatchObject({
      nodeId: 'env-node',
      bind: { host: '0.0.0.0', port: 9000 },
      dataDir: '/var/lib/count',
      logLevels: { level: 'debug' },
      seeds: [{ host: 'a.example', port: 9081 }],
    });
    expect(run(['--node-id', 'flag-node', '--bind', '127.0.0.1:1'], env).config).toMatchObject({
      nodeId: 'flag-node',
      bind: { host: '127.0.0.1', port: 1 },
    });
  });

  it('fails at start on unknown flags, stray arguments and bad values, naming them', () => {
    const cases: [string[], string][] = [
      [['--no-such-flag'], "unknown option '--no-such-flag'"],
      [['extra'], 'too many arguments'],
      [['--bind', 'localhost'], '--bind'],
      [['--bind', '127.0.0.1:70000'], 'port must be 0..65535'],
      [['--rf', '0'], '--rf'],
      [['--rf', 'three'], '--rf'],
      [['--fsync', 'sometimes'], '--fsync'],
      [['--retention', '30 days'], '--retention'],
      [['--body-limit', 'lots'], '--body-limit'],
      [['--body-limit', '0'], 'greater than 0'],
      [['--log-level', 'loud'], '--log-level'],
      [['--node-id', 'bad id'], '--node-id'],
      [['--seeds', ','], '--seeds'],
    ];
    for (const [argv, words] of cases) {
      const { error, err } = run(argv);
      expect(error, argv.join(' ')).toBeDefined();
      expect(error?.exitCode).toBe(1);
      expect(isHelpExit(error)).toBe(false);
      expect(err, argv.join(' ')).toContain(words);
    }
  });

  it('fails on a bad environment variable, naming it', () => {
    const { error, err } = run([], { BIND_ADDRESS: 'nowhere' });
    expect(error?.exitCode).toBe(1);
    expect(err).toContain('BIND_ADDRESS');
    expect(run([], { LOG_LEVEL: 'chatty' }).err).toContain('LOG_LEVEL');
  });

  it('--help explains every flag and exits 0', () => {
    const { error, out } = run(['--help']);
    expect(isHelpExit(error)).toBe(true);
    for (const flag of [
      '--node-id',
      '--bind',
      '--peer-bind',
      '--data-dir',
      '--seeds',
      '--bootstrap',
      '--rf',
      '--log-level',
      '--fsync ',
      '--fsync-interval',
      '--retention',
      '--out-of-order-window',
      '--body-limit',
      '--head-memory-limit',
      '--max-inflight-writes',
      '--max-inflight-queries',
      '--series-key-cache',
      '--shutdown-timeout',
      'NODE_ID',
      'BIND_ADDRESS',
      'DATA_DIR',
      'LOG_LEVEL',
      'SEEDS',
    ]) {
      expect(out).toContain(flag);
    }
  });
});

describe('value parsers', () => {
  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(parseDuration('1500')).toBe(1500);
    for (const bad of ['', 'h', '1x', '1h 30m', '-1s', '1.5h']) {
      expect(() => parseDuration(bad), bad).toThrow();
    }
  });

  it('parses sizes', () => {
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('512KiB')).toBe(524288);
    expect(parseByteSize('32MiB')).toBe(33554432);
    expect(parseByteSize('1GB')).toBe(1e9);
    expect(parseByteSize('1.5kb')).toBe(1500);
    for (const bad of ['', 'MiB', '1 XB', '-5']) expect(() => parseByteSize(bad), bad).toThrow();
  });

  it('parses host:port including IPv6 and port 0', () => {
    expect(parseHostPort('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseHostPort('[::]:8080')).toEqual({ host: '::', port: 8080 });
    expect(parseHostPort('db-1.local:80')).toEqual({ host: 'db-1.local', port: 80 });
    for (const bad of ['8080', ':8080', 'host:', 'host:123456', 'a b:1']) {
      expect(() => parseHostPort(bad), bad).toThrow();
    }
  });
});

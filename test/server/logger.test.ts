import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { createRootLogger, moduleLogger, parseLogLevels } from '../../src/server/logger.js';

describe('log levels', () => {
  it('parses a default level and per-module overrides', () => {
    expect(parseLogLevels('info')).toEqual({ level: 'info', modules: {} });
    expect(parseLogLevels('WARN, http=debug ,storage=silent')).toEqual({
      level: 'warn',
      modules: { http: 'debug', storage: 'silent' },
    });
    for (const bad of ['', 'loud', 'http=loud', '=debug', 'HTTP!=info']) {
      expect(() => parseLogLevels(bad), bad).toThrow(CountError);
    }
  });

  it('filters each module at its own level and tags lines with the module', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const levels = parseLogLevels('warn,http=debug');
    const root = createRootLogger(levels, { node: 'n1' }, sink);
    moduleLogger(root, levels, 'http').debug('http detail');
    moduleLogger(root, levels, 'server').info('server chatter');
    moduleLogger(root, levels, 'server').warn('server warning');
    expect(lines.map((l) => [l.module, l.msg, l.node])).toEqual([
      ['http', 'http detail', 'n1'],
      ['server', 'server warning', 'n1'],
    ]);
  });
});

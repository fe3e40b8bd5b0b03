import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkNodeIdentity,
  IDENTITY_FILE,
  recordNodeIdentity,
} from '../../src/cli/node-identity.js';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'count-identity-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('node identity of a data dir', () => {
  it('an empty dir is new; once recorded it is a restart of the same node only', () => {
    const d = dir();
    expect(checkNodeIdentity(d, 'n1', 'meta').kind).toBe('new');
    recordNodeIdentity(d, 'n1', 1234);
    expect(JSON.parse(readFileSync(join(d, IDENTITY_FILE), 'utf8'))).toEqual({
      nodeId: 'n1',
      createdAt: 1234,
    });
    expect(checkNodeIdentity(d, 'n1', 'meta').kind).toBe('restart');
    expect(() => checkNodeIdentity(d, 'n2', 'meta')).toThrow(/belongs to node n1, not n2/);
    // Recording again keeps the first identity.
    recordNodeIdentity(d, 'n2', 99);
    expect(checkNodeIdentity(d, 'n1', 'meta').kind).toBe('restart');
  });

  it('a metadata log without the file (an older dir) is a restart; an empty meta dir is new', () => {
    const d = dir();
    mkdirSync(join(d, 'meta'));
    expect(checkNodeIdentity(d, 'n1', 'meta').kind).toBe('new');
    writeFileSync(join(d, 'meta', 'log-0001'), 'x');
    expect(checkNodeIdentity(d, 'n1', 'meta').kind).toBe('restart');
  });

  it('a damaged identity file is refused, not overwritten', () => {
    const d = dir();
    writeFileSync(join(d, IDENTITY_FILE), '{not json');
    expect(() => checkNodeIdentity(d, 'n1', 'meta')).toThrow(/not valid JSON/);
    writeFileSync(join(d, IDENTITY_FILE), '{"id":"n1"}');
    expect(() => checkNodeIdentity(d, 'n1', 'meta')).toThrow(/does not name a node/);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PresenceFile } from './presence.file';

describe('PresenceFile', () => {
  let dir: string;
  const warnings: string[] = [];
  const log = { warn: (m: string) => warnings.push(m) };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-presence-file-'));
    warnings.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps last-seen times across a save and a load', () => {
    const file = new PresenceFile(join(dir, 'sub', 'presence.json'), log);
    expect(file.load()).toEqual(new Map());
    file.save(
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
    );
    expect(new PresenceFile(join(dir, 'sub', 'presence.json'), log).load()).toEqual(
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
    );
    expect(warnings).toEqual([]);
  });

  it('an unreadable file means nothing saved, with a warning; bad entries are skipped', () => {
    const path = join(dir, 'presence.json');
    writeFileSync(path, '{"version":1,"lastSeen":{"a":');
    expect(new PresenceFile(path, log).load()).toEqual(new Map());
    expect(warnings).toHaveLength(1);
    writeFileSync(path, JSON.stringify({ version: 1, lastSeen: { a: 5, b: 'x', c: null } }));
    expect(new PresenceFile(path, log).load()).toEqual(new Map([['a', 5]]));
  });
});

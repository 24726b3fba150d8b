import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStateStore } from './sqlite.state-store';
import { describeStateStoreContract } from './state-store.contract';

// Every commit is fsynced (synchronous=FULL): on a loaded, shared disk a few of them can outlast jest's 5 s default.
jest.setTimeout(60_000);

describeStateStoreContract('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-state-'));
  const file = join(dir, 'state.sqlite');
  return Promise.resolve({
    open: () => SqliteStateStore.open(file),
    env: { STATE_FILE: file },
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

describe('SqliteStateStore', () => {
  it('keeps its file in WAL mode, creating the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-state-'));
    const file = join(dir, 'nested', 'state.sqlite');
    try {
      const store = SqliteStateStore.open(file);
      await store.migrate();
      await store.close();
      const raw = new Database(file, { readonly: true });
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      raw.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

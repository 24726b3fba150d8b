import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStateStore } from '../state/sqlite.state-store';
import { describeOperatorStore } from './operator.store.contract';

// Every commit is fsynced (synchronous=FULL): on a loaded, shared disk a few of them can outlast jest's 5 s default.
jest.setTimeout(60_000);

describeOperatorStore('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-operators-'));
  return Promise.resolve({
    open: async () => {
      const store = SqliteStateStore.open(join(dir, 'state.sqlite'));
      await store.migrate();
      return store;
    },
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

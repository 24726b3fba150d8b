import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStateStore } from '../state/sqlite.state-store';
import { describeStateDeviceRegistry } from './state.device-registry.contract';

describeStateDeviceRegistry('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-state-registry-'));
  return Promise.resolve({
    open: async () => {
      const store = SqliteStateStore.open(join(dir, 'state.sqlite'));
      await store.migrate();
      return store;
    },
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

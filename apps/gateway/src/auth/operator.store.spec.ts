import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@fieldline/contracts';
import { SqliteStateStore } from '../state/sqlite.state-store';
import { OperatorStore } from './operator.store';
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

describe('OperatorStore when the database is gone', () => {
  it('answers STORE_UNAVAILABLE, without the driver message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-operators-'));
    try {
      const state = SqliteStateStore.open(join(dir, 'state.sqlite'));
      await state.migrate();
      await state.close();
      const err = await new OperatorStore(state).list().then(
        () => null,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect([err?.code, err?.message]).toEqual([
        ErrorCode.STORE_UNAVAILABLE,
        'the state store is unavailable; retry later',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

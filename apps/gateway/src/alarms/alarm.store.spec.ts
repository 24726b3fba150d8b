import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStateStore } from '../state/sqlite.state-store';
import { describeAlarmStoreContract } from './alarm-store.contract';

// Every commit is fsynced (synchronous=FULL): on a loaded, shared disk a few of them can outlast jest's 5 s default.
jest.setTimeout(60_000);

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describeAlarmStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-alarms-'));
  dirs.push(dir);
  const store = SqliteStateStore.open(join(dir, 'state.sqlite'));
  await store.migrate();
  return store;
});

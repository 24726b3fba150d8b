import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStateStore } from '../state/sqlite.state-store';
import { describeCommandsRepositoryContract } from './commands.repository.contract';

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'fieldline-commands-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeCommandsRepositoryContract('sqlite', () => Promise.resolve(SqliteStateStore.open(join(dir, 'state.sqlite'))));

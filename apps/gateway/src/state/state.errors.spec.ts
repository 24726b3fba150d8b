import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, FieldlineError } from '@fieldline/contracts';
import { SqliteStateStore } from './sqlite.state-store';
import { isStateUnavailable } from './state.errors';

describe('state store guard', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'fieldline-state-guard-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('tells an unreachable database from a bad query', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', '08006', '57P01', '57P03', 'SQLITE_BUSY', 'SQLITE_IOERR_WRITE'])
      expect([code, isStateUnavailable(Object.assign(new Error('x'), { code }))]).toEqual([code, true]);
    expect(isStateUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isStateUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    for (const code of ['23505', '42P01', 'SQLITE_CONSTRAINT_PRIMARYKEY', undefined])
      expect([code, isStateUnavailable(Object.assign(new Error('x'), { code }))]).toEqual([code, false]);
    expect(isStateUnavailable(new FieldlineError(ErrorCode.STATE_UNAVAILABLE, 'down'))).toBe(true);
    expect(isStateUnavailable(new FieldlineError(ErrorCode.CONFLICT, 'taken'))).toBe(false);
  });

  it('passes a constraint error as it is and counts it; not as STATE_UNAVAILABLE', async () => {
    const store = SqliteStateStore.open(join(dir, 'state.sqlite'));
    try {
      await store.migrate();
      const row = {
        device_id: 'd1',
        name: null,
        token_hash: 'h',
        created_at: 1,
        token_issued_at: 1,
        rotated_at: null,
        revoked_at: null,
        site: null,
        model: null,
        tags: '{}',
        updated_at: 1,
      };
      await store.db.insertInto('devices').values(row).execute();
      const dup = await store.db
        .insertInto('devices')
        .values(row)
        .execute()
        .then(
          () => null,
          (e: unknown) => e as { code?: string; message?: string },
        );
      // Cross-realm errors (better-sqlite3 loads once per worker): compare fields, not classes.
      expect(dup?.code).toMatch(/^SQLITE_CONSTRAINT/);
      expect(store.stats).toEqual({ queryErrors: 1, unavailable: 0 });
    } finally {
      await store.close();
    }
  });
});

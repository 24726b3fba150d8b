import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditText } from './audit.log';
import { describeAuditLog } from './audit.log.contract';
import { SqliteStateStore } from './sqlite.state-store';

// Every commit is fsynced (synchronous=FULL): on a loaded, shared disk a few of them can outlast jest's 5 s default.
jest.setTimeout(60_000);

describeAuditLog('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-audit-'));
  return Promise.resolve({
    open: async () => {
      const store = SqliteStateStore.open(join(dir, 'state.sqlite'));
      await store.migrate();
      return store;
    },
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

describe('auditText', () => {
  it('keeps plain text as it is and writes controls as \\u escapes', () => {
    expect(auditText('ada@example.org')).toBe('ada@example.org');
    expect(auditText('a\tb\u0000c\u2028')).toBe('a\\u0009b\\u0000c\\u2028');
    expect(auditText(undefined)).toBeNull();
  });
});

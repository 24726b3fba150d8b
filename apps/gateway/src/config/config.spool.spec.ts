import { ConfigError, loadConfig } from './config';

describe('loadConfig: spool', () => {
  const base = { JWT_SECRET: 'x'.repeat(40), ADMIN_PASSWORD: 'admin-password' };
  const variableOf = (env: Record<string, string>): string => {
    try {
      loadConfig({ ...base, ...env });
    } catch (err) {
      if (err instanceof ConfigError) return err.variable;
      throw err;
    }
    throw new Error('accepted');
  };

  it('defaults to 1 GiB without fsync', () => {
    expect(loadConfig(base)).toMatchObject({ spoolMaxBytes: 1024 ** 3, spoolFsync: false });
  });

  it('takes sizes in bytes or with a unit, and fsync as a boolean', () => {
    expect(loadConfig({ ...base, SPOOL_MAX_BYTES: '2097152' }).spoolMaxBytes).toBe(2 * 1024 ** 2);
    expect(loadConfig({ ...base, SPOOL_MAX_BYTES: '512m' }).spoolMaxBytes).toBe(512 * 1024 ** 2);
    expect(loadConfig({ ...base, SPOOL_MAX_BYTES: '2GiB' }).spoolMaxBytes).toBe(2 * 1024 ** 3);
    expect(loadConfig({ ...base, SPOOL_FSYNC: 'true' }).spoolFsync).toBe(true);
  });

  it('refuses nonsense, naming the variable', () => {
    expect(variableOf({ SPOOL_MAX_BYTES: 'lots' })).toBe('SPOOL_MAX_BYTES');
    expect(variableOf({ SPOOL_MAX_BYTES: '1k' })).toBe('SPOOL_MAX_BYTES'); // below 1 MiB
    expect(variableOf({ SPOOL_FSYNC: 'maybe' })).toBe('SPOOL_FSYNC');
  });
});

import { loadConfig } from './config';
import { ConfigError } from './config-error';

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
    expect(loadConfig(base).storage.spool).toMatchObject({ maxBytes: 1024 ** 3, fsync: false });
  });

  it('takes sizes in bytes or with a unit, and fsync as a boolean', () => {
    expect(loadConfig({ ...base, SPOOL_MAX_BYTES: '2097152' }).storage.spool.maxBytes).toBe(2 * 1024 ** 2);
    expect(loadConfig({ ...base, SPOOL_MAX_BYTES: '512m' }).storage.spool.maxBytes).toBe(512 * 1024 ** 2);
    expect(loadConfig({ ...base, SPOOL_MAX_BYTES: '2GiB' }).storage.spool.maxBytes).toBe(2 * 1024 ** 3);
    expect(loadConfig({ ...base, SPOOL_FSYNC: 'true' }).storage.spool.fsync).toBe(true);
  });

  it('refuses nonsense, naming the variable', () => {
    expect(variableOf({ SPOOL_MAX_BYTES: 'lots' })).toBe('SPOOL_MAX_BYTES');
    expect(variableOf({ SPOOL_MAX_BYTES: '1k' })).toBe('SPOOL_MAX_BYTES'); // below 1 MiB
    expect(variableOf({ SPOOL_FSYNC: 'maybe' })).toBe('SPOOL_FSYNC');
  });
});

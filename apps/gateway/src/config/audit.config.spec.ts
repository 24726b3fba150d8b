import { loadConfig } from './config';
import { ConfigError } from './config-error';

describe('loadConfig: audit log', () => {
  const base = { JWT_SECRET: 'x'.repeat(40), ADMIN_PASSWORD: 'admin-password' };

  it('keeps entries 90 days by default; takes AUDIT_RETENTION as a duration', () => {
    expect(loadConfig(base).audit).toEqual({ retentionMs: 90 * 86_400_000 });
    expect(loadConfig({ ...base, AUDIT_RETENTION: '36h' }).audit.retentionMs).toBe(36 * 3_600_000);
  });

  it('refuses a retention that is no duration or out of range, naming AUDIT_RETENTION', () => {
    for (const bad of ['forever', '10s', '4000d']) {
      let caught: unknown;
      try {
        loadConfig({ ...base, AUDIT_RETENTION: bad });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).variable).toBe('AUDIT_RETENTION');
      expect((caught as ConfigError).message).toContain(`got "${bad}"`);
    }
  });
});

import { loadConfig } from './config';
import { ConfigError } from './config-error';

describe('loadConfig: state store', () => {
  const base = { JWT_SECRET: 'x'.repeat(40), ADMIN_PASSWORD: 'admin-password' };
  const several = {
    MQTT_URL: 'mqtt://broker:1883',
    INFLUX_URL: 'http://influx:8086/fieldline',
    REDIS_URL: 'redis://r',
  };
  const refusal = (env: Record<string, string>): ConfigError => {
    let caught: unknown;
    expect(() => {
      try {
        loadConfig({ ...base, ...env });
      } catch (err) {
        caught = err;
        throw err;
      }
    }).toThrow(ConfigError);
    return caught as ConfigError;
  };

  it('defaults to the SQLite file under DATA_DIR; takes DATABASE_URL and STATE_FILE', () => {
    expect(loadConfig(base).state).toEqual({ databaseUrl: null, stateFile: null });
    expect(loadConfig({ ...base, DATABASE_URL: ' ', STATE_FILE: '/srv/state.db' }).state).toEqual({
      databaseUrl: null,
      stateFile: '/srv/state.db',
    });
    const url = 'postgresql://gw:secret@db.internal:5432/fieldline?sslmode=require';
    expect(loadConfig({ ...base, ...several, DATABASE_URL: url }).state.databaseUrl).toBe(url);
  });

  it('refuses a DATABASE_URL that is not PostgreSQL, without echoing its password', () => {
    const err = refusal({ DATABASE_URL: 'mysql://gw:secret@db/fieldline' });
    expect(err.variable).toBe('DATABASE_URL');
    expect(err.message).toMatch(/must use postgres: or postgresql:/);
    expect(err.message).not.toContain('secret');
    expect(refusal({ DATABASE_URL: 'not a url' }).variable).toBe('DATABASE_URL');
  });

  it('refuses several nodes (REDIS_URL) without a shared DATABASE_URL', () => {
    const err = refusal(several);
    expect(err.variable).toBe('DATABASE_URL');
    expect(err.message).toMatch(/device registered at one node would be refused at the others/);
  });
});

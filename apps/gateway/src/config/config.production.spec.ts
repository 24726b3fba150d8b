import { loadConfig } from './config';
import { ConfigError } from './config-error';

/** Production mode: external broker, InfluxDB, Redis, several nodes. */
describe('loadConfig: production mode', () => {
  const base = { JWT_SECRET: 'x'.repeat(40), ADMIN_PASSWORD: 'admin-password' };
  const services = {
    MQTT_URL: 'mqtt://broker:1883',
    INFLUX_URL: 'http://influx:8086/fieldline',
    REDIS_URL: 'redis://redis:6379',
    DATABASE_URL: 'postgres://fieldline@postgres:5432/fieldline',
  };
  const refusal = (env: Record<string, string>): ConfigError => {
    try {
      loadConfig({ ...base, ...env });
    } catch (err) {
      if (err instanceof ConfigError) return err;
      throw err;
    }
    throw new Error('accepted');
  };

  it('takes the three services, with defaults for the rest', () => {
    const c = loadConfig({ ...base, ...services, NODE_ID: 'gw-1' });
    expect(c).toMatchObject({
      mqtt: { url: services.MQTT_URL, port: null, sessionExpiryS: 3600, username: null, password: null },
      storage: { influx: { url: services.INFLUX_URL, retention: '30d' } },
      cluster: { redisUrl: services.REDIS_URL, nodeId: 'gw-1', redisPrefix: 'fieldline' },
    });
  });

  it('defaults the node id to the host name, cut to the id rule', () => {
    expect(loadConfig(base).cluster.nodeId).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
  });

  it.each([
    [{ REDIS_URL: services.REDIS_URL, INFLUX_URL: services.INFLUX_URL }, 'MQTT_URL', /embedded broker/],
    [{ REDIS_URL: services.REDIS_URL, MQTT_URL: services.MQTT_URL }, 'INFLUX_URL', /embedded store/],
    [{ REDIS_URL: services.REDIS_URL }, 'MQTT_URL', /several gateway nodes/],
  ])('refuses several nodes (REDIS_URL) on an embedded part: %p', (env, variable, why) => {
    const err = refusal(env);
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(why);
  });

  it('runs one node on an external broker or on InfluxDB without Redis', () => {
    expect(loadConfig({ ...base, MQTT_URL: services.MQTT_URL }).cluster.redisUrl).toBeNull();
    expect(loadConfig({ ...base, INFLUX_URL: services.INFLUX_URL }).mqtt.port).toBe(1883);
  });

  it.each([
    [{ INFLUX_RETENTION: '30 days' }, 'INFLUX_RETENTION'],
    [{ INFLUX_RETENTION: '0d' }, 'INFLUX_RETENTION'],
    [{ INFLUX_RETENTION: '90m' }, 'INFLUX_RETENTION'],
    [{ NODE_ID: 'gw 1' }, 'NODE_ID'],
    [{ REDIS_KEY_PREFIX: 'a b' }, 'REDIS_KEY_PREFIX'],
    [{ MQTT_PASSWORD: 'secret' }, 'MQTT_USERNAME'],
    [{ MQTT_SESSION_EXPIRY: '5' }, 'MQTT_SESSION_EXPIRY'],
    [{ MQTT_URL: 'http://broker' }, 'MQTT_URL'],
    [{ INFLUX_URL: 'influx:8086' }, 'INFLUX_URL'],
    [{ REDIS_URL: 'http://redis' }, 'REDIS_URL'],
  ])('names the variable of a bad value: %p', (env, variable) => {
    expect(refusal({ ...services, ...env }).variable).toBe(variable);
  });

  it('takes retention durations in h, d, w and INF, and the gateway credentials', () => {
    expect(loadConfig({ ...base, INFLUX_RETENTION: '12W' }).storage.influx.retention).toBe('12w');
    expect(loadConfig({ ...base, INFLUX_RETENTION: 'inf' }).storage.influx.retention).toBe('INF');
    expect(loadConfig({ ...base, MQTT_USERNAME: 'gw', MQTT_PASSWORD: 'pw' }).mqtt).toMatchObject({
      username: 'gw',
      password: 'pw',
    });
  });
});

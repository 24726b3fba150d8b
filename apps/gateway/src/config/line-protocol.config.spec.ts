import { createHash } from 'node:crypto';
import { ConfigError, loadConfig } from './config';
import { bridgeAllows, loadLineProtocolConfig } from './line-protocol.config';

const HASH = createHash('sha256').update('secret-token').digest('hex');

describe('line-protocol configuration', () => {
  const message = (env: Record<string, string>): string => {
    try {
      loadLineProtocolConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    throw new Error('accepted');
  };

  it('defaults to the device_id tag and no bridges, also through loadConfig', () => {
    expect(loadLineProtocolConfig({})).toEqual({ deviceTag: 'device_id', bridges: [] });
    expect(loadConfig({ JWT_SECRET: 'x'.repeat(40), ADMIN_PASSWORD: 'admin-password' }).lineProtocol.deviceTag).toBe(
      'device_id',
    );
  });

  it('takes another tag (host, for Telegraf) and bridges separated by ;', () => {
    const c = loadLineProtocolConfig({
      LINE_PROTOCOL_DEVICE_TAG: 'host',
      LINE_PROTOCOL_BRIDGES: `telegraf:${HASH.toUpperCase()}:pump-*,valve-1; historian:${HASH}:*`,
    });
    expect(c).toEqual({
      deviceTag: 'host',
      bridges: [
        { name: 'telegraf', tokenSha256: HASH, devices: ['pump-*', 'valve-1'] },
        { name: 'historian', tokenSha256: HASH, devices: ['*'] },
      ],
    });
  });

  it('a bridge allows exact ids, prefixes ending in * and * alone', () => {
    const b = { name: 'b', tokenSha256: HASH, devices: ['pump-*', 'valve-1'] };
    expect(['pump-1', 'pump-', 'valve-1'].map((id) => bridgeAllows(b, id))).toEqual([true, true, true]);
    expect(['valve-10', 'pum', 'x'].map((id) => bridgeAllows(b, id))).toEqual([false, false, false]);
    expect(bridgeAllows({ ...b, devices: ['*'] }, 'anything')).toBe(true);
  });

  it('refuses nonsense with a message that names the variable and the entry', () => {
    expect(message({ LINE_PROTOCOL_DEVICE_TAG: 'has space' })).toMatch(/^LINE_PROTOCOL_DEVICE_TAG: must be a tag key/);
    expect(message({ LINE_PROTOCOL_BRIDGES: 'telegraf:abc:pump-*' })).toBe(
      'LINE_PROTOCOL_BRIDGES: entry "telegraf": the token hash must be 64 hex digits (sha256sum of the token); ' +
        'entries are <name>:<sha256 hex of the token>:<device>[,<device>...] separated by ;',
    );
    expect(message({ LINE_PROTOCOL_BRIDGES: `t:${HASH}` })).toContain('expected three parts separated by :');
    expect(message({ LINE_PROTOCOL_BRIDGES: `t:${HASH}:a:b` })).toContain('expected three parts separated by :');
    expect(message({ LINE_PROTOCOL_BRIDGES: `bad name:${HASH}:a` })).toContain('the name must be');
    expect(message({ LINE_PROTOCOL_BRIDGES: `t:${HASH}:pu*mp` })).toContain('devices must be device ids or prefixes');
    expect(message({ LINE_PROTOCOL_BRIDGES: `t:${HASH}:a,` })).toContain('devices must be device ids or prefixes');
    expect(message({ LINE_PROTOCOL_BRIDGES: `t:${HASH}:a;t:${HASH}:b` })).toContain('the name is used twice');
  });
});

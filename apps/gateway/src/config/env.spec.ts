import { z } from 'zod';
import { ConfigError } from './config-error';
import { boolean, bytes, decimal, integer, list, parseSection, url } from './env';
import { loadLineProtocolConfig } from './line-protocol.config';
import { loadServerConfig } from './server.config';

/** `text` parsed as variable `V` by `value`: its value, or the refusal as the start-up message words it. */
function parse<T>(value: z.ZodType<T, string | undefined>, text: string | undefined): T | string {
  try {
    return parseSection(z.object({ V: value }), { V: text }).V;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

describe('env values', () => {
  it('take the default when unset or blank, and word a refusal naming the variable', () => {
    expect(parse(integer(7, 0, 10), undefined)).toBe(7);
    expect(parse(integer(7, 0, 10), '  ')).toBe(7);
    expect(parse(integer(7, 0, 10), ' 3 ')).toBe(3);
    expect(parse(integer(7, 0, 10), '3.5')).toBe('V: must be an integer, got "3.5"');
    expect(parse(integer(7, 0, 10), '11')).toBe('V: must be between 0 and 10, got 11');
    expect(parse(decimal(1, 0, 2), '0.5')).toBe(0.5);
    expect(parse(decimal(1, 0, 2), 'NaN')).toBe('V: must be a number between 0 and 2, got "NaN"');
    expect(parse(boolean(false), 'On')).toBe(true);
    expect(parse(boolean(false), 'maybe')).toBe('V: must be true or false, got "maybe"');
    expect(parse(bytes(1, 1024, 1024 ** 3), '2KiB')).toBe(2048);
    expect(parse(bytes(1, 1024, 1024 ** 3), '2x')).toMatch(/^V: must be a size in bytes/);
    expect(parse(url(['redis:']), 'redis://r:6379')).toBe('redis://r:6379');
    expect(parse(url(['redis:']), 'http://r')).toBe('V: must use redis:, got "http:"');
    expect(parse(url(['redis:']), 'r:6379:x')).toBe('V: must use redis:, got "r:"');
    expect(parse(url(['redis:']), 'not a url')).toBe('V: must be a URL, got "not a url"');
    expect(parse(list(z.string()), ' a, ,b ')).toEqual(['a', 'b']);
  });

  it('name the variable of a refused list item', () => {
    expect(() => loadServerConfig({ CORS_ORIGINS: 'https://ok.example.com, https://x.example.com/path' })).toThrow(
      'CORS_ORIGINS: "https://x.example.com/path" is not an origin such as https://ops.example.com',
    );
    expect(loadServerConfig({ CORS_ORIGINS: 'https://a.example.com,http://b:8080' }).corsOrigins).toEqual([
      'https://a.example.com',
      'http://b:8080',
    ]);
  });
});

describe('line-protocol section', () => {
  const hash = 'ab'.repeat(32);

  it('defaults to the device_id tag and no bridges; takes bridges with exact ids and prefixes', () => {
    expect(loadLineProtocolConfig({})).toEqual({ deviceTag: 'device_id', bridges: [] });
    expect(
      loadLineProtocolConfig({
        LINE_PROTOCOL_DEVICE_TAG: 'host',
        LINE_PROTOCOL_BRIDGES: `t:${hash.toUpperCase()}:pump-*, v-1;`,
      }),
    ).toEqual({
      deviceTag: 'host',
      bridges: [{ name: 't', tokenSha256: hash, devices: ['pump-*', 'v-1'] }],
    });
  });

  it.each([
    ['t:abc:pump', /token hash must be 64 hex digits/],
    [`t:${hash}`, /expected three parts/],
    [`t:${hash}:pump-*;t:${hash}:v`, /the name is used twice/],
    [`t:${hash}:pu mp`, /devices must be device ids or prefixes/],
  ])('refuses LINE_PROTOCOL_BRIDGES=%p', (bridges, why) => {
    expect(() => loadLineProtocolConfig({ LINE_PROTOCOL_BRIDGES: bridges })).toThrow(why);
    expect(() => loadLineProtocolConfig({ LINE_PROTOCOL_BRIDGES: bridges })).toThrow(
      /^LINE_PROTOCOL_BRIDGES: entry "t"/,
    );
  });

  it('refuses a tag that is not a tag key', () => {
    expect(() => loadLineProtocolConfig({ LINE_PROTOCOL_DEVICE_TAG: '1x' })).toThrow(/^LINE_PROTOCOL_DEVICE_TAG: /);
  });
});

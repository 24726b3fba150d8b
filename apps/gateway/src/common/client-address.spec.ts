import { loadServerConfig } from '../config/server.config';
import { ClientAddresses } from './client-address';

const behind = (proxies: string, header = 'x-forwarded-for') =>
  new ClientAddresses(loadServerConfig({ TRUST_PROXY_HEADER: header, TRUSTED_PROXIES: proxies }).trustProxy);

describe('ClientAddresses', () => {
  it('without a trusted proxy believes no header', () => {
    const a = new ClientAddresses(loadServerConfig({}).trustProxy);
    expect(a.of('10.0.0.1', { 'x-forwarded-for': '1.2.3.4' })).toBe('10.0.0.1');
    expect(a.of('::ffff:10.0.0.1', {})).toBe('10.0.0.1');
    expect(a.of(undefined, {})).toBe('');
    expect(a.isTls({ remoteAddress: '10.0.0.1' }, { 'x-forwarded-proto': 'https' })).toBe(false);
    expect(a.isTls({ remoteAddress: '10.0.0.1', encrypted: true }, {})).toBe(true);
  });

  it('behind trusted proxies takes the first untrusted hop from the right', () => {
    const a = behind('10.0.0.0/8, fd00::/8');
    // The client wrote 6.6.6.6 itself; the edge proxy appended what it saw, 1.2.3.4.
    expect(a.of('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 1.2.3.4, 10.9.9.9' })).toBe('1.2.3.4');
    expect(a.of('::ffff:10.0.0.1', { 'x-forwarded-for': '1.2.3.4' })).toBe('1.2.3.4');
    expect(a.of('fd00::1', { 'x-forwarded-for': '2001:db8::7' })).toBe('2001:db8::7');
    expect(a.of('10.0.0.1', { 'x-forwarded-for': ['5.5.5.5', '1.2.3.4'] })).toBe('1.2.3.4');
    // Only proxies in the header: the leftmost is the best known; a non-address ends the walk.
    expect(a.of('10.0.0.1', { 'x-forwarded-for': '10.1.1.1, 10.2.2.2' })).toBe('10.1.1.1');
    expect(a.of('10.0.0.1', { 'x-forwarded-for': 'junk, 10.2.2.2' })).toBe('10.2.2.2');
    expect(a.of('10.0.0.1', {})).toBe('10.0.0.1');
    // A client that is no proxy cannot name another address.
    expect(a.of('192.168.1.5', { 'x-forwarded-for': '1.2.3.4' })).toBe('192.168.1.5');
    expect(a.isTls({ remoteAddress: '10.0.0.1' }, { 'x-forwarded-proto': 'https' })).toBe(true);
    expect(a.isTls({ remoteAddress: '192.168.1.5' }, { 'x-forwarded-proto': 'https' })).toBe(false);
  });

  it('reads another header when told (X-Real-IP)', () => {
    expect(behind('127.0.0.1', 'X-Real-IP').of('127.0.0.1', { 'x-real-ip': '1.2.3.4' })).toBe('1.2.3.4');
  });
});

describe('TRUST_PROXY_HEADER and TRUSTED_PROXIES', () => {
  it('go together and take addresses or CIDR blocks only', () => {
    expect(loadServerConfig({}).trustProxy).toBeNull();
    expect(
      loadServerConfig({ TRUST_PROXY_HEADER: 'X-Forwarded-For', TRUSTED_PROXIES: '10.0.0.0/8,::1' }).trustProxy,
    ).toEqual({
      header: 'x-forwarded-for',
      proxies: [
        { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { address: '::1', prefix: 128, family: 'ipv6' },
      ],
    });
    expect(() => loadServerConfig({ TRUST_PROXY_HEADER: 'x-forwarded-for' })).toThrow(/^TRUSTED_PROXIES: is required/);
    expect(() => loadServerConfig({ TRUSTED_PROXIES: '10.0.0.1' })).toThrow(/^TRUST_PROXY_HEADER: is required/);
    for (const bad of ['10.0.0.0/33', 'proxy.local', '10.0.0.1/8/2', '::1/129', '10.0.0.1/x'])
      expect(() => loadServerConfig({ TRUST_PROXY_HEADER: 'x-forwarded-for', TRUSTED_PROXIES: bad })).toThrow(
        /^TRUSTED_PROXIES: /,
      );
    expect(() => loadServerConfig({ TRUST_PROXY_HEADER: 'x forwarded', TRUSTED_PROXIES: '10.0.0.1' })).toThrow(
      /^TRUST_PROXY_HEADER: /,
    );
  });
});

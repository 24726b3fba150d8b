import type { AllowedHosts } from '../config/server.config';
import { originAllowed, type OriginRules } from './origin.policy';

describe('originAllowed', () => {
  const host = 'gw.example:3000';
  const hosts: AllowedHosts = { any: false, names: ['gw.example', 'ops.example'], defaulted: false };
  const rules = (corsOrigins: string[], publicUrl: string | null = null): OriginRules => ({
    corsOrigins,
    publicUrl,
    hosts,
  });
  it.each([
    [{ host }, [], true],
    [{ host, origin: 'http://gw.example:3000' }, [], true],
    [{ host, origin: 'https://GW.example:3000' }, [], true],
    [{ host: '10.0.0.1:3000', origin: 'https://ops.example', 'x-forwarded-host': 'ops.example' }, [], true],
    [{ host, origin: 'https://ops.example.com' }, ['https://ops.example.com'], true],
    [{ host, origin: 'https://evil.example' }, ['https://ops.example.com'], false],
    [{ host, origin: 'http://gw.example:3001' }, [], false],
    [{ host, origin: 'null' }, [], false],
    [{ host, origin: 'file:///tmp/x.html' }, [], false],
    [{ host, origin: 'not a url' }, [], false],
    // DNS rebinding: Origin and Host agree, on a name the gateway does not answer to.
    [{ host: 'evil.example:3000', origin: 'http://evil.example:3000' }, [], false],
    [{ host: '10.0.0.1:3000', origin: 'https://evil.example', 'x-forwarded-host': 'evil.example' }, [], false],
    [{ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' }, [], true],
    [{ host: 'localhost:3000', origin: 'http://localhost:3000' }, [], true],
  ])('%p with %p → %p', (headers, allowlist, expected) => {
    expect(originAllowed(headers, rules(allowlist))).toBe(expected);
  });

  it("takes PUBLIC_URL's origin whatever Host the proxy forwards", () => {
    const headers = { host: 'gateway-internal:3000', origin: 'https://fieldline.example.com' };
    expect(originAllowed(headers, rules([], 'https://fieldline.example.com/base'))).toBe(true);
    expect(originAllowed(headers, rules([]))).toBe(false);
  });

  it('compares Origin with Host when ALLOWED_HOSTS is * (the proxy in front checks Host)', () => {
    const any = { corsOrigins: [], publicUrl: null, hosts: { any: true, names: [], defaulted: false } };
    expect(originAllowed({ host: 'evil.example', origin: 'http://evil.example' }, any)).toBe(true);
    expect(originAllowed({ host: 'gw.example', origin: 'http://evil.example' }, any)).toBe(false);
  });
});

import { originAllowed } from './origin.policy';

describe('originAllowed', () => {
  const host = 'gw.example:3000';
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
  ])('%p with %p → %p', (headers, allowlist, expected) => {
    expect(originAllowed(headers, allowlist)).toBe(expected);
  });
});

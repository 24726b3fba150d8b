import type { AllowedHosts } from '../config/server.config';
import { hostAllowed } from './host.policy';

describe('hostAllowed', () => {
  const allowed: AllowedHosts = {
    any: false,
    names: ['gw.example.com', 'edge.example.com:8443', '.fleet.example'],
    defaulted: false,
  };
  it.each([
    ['gw.example.com', true],
    ['GW.Example.com:3000', true],
    ['gw.example.com.', true],
    ['edge.example.com:8443', true],
    ['edge.example.com:443', false],
    ['edge.example.com', false],
    ['fleet.example', true],
    ['a.b.fleet.example:80', true],
    ['evilfleet.example', false],
    ['127.0.0.1:3000', true],
    ['10.1.2.3', true],
    ['[::1]:3000', true],
    ['[::1', false],
    ['[fe80::1]', true],
    ['localhost:3000', true],
    ['app.localhost', true],
    ['evil.example', false],
    ['evil.example:3000', false],
    ['localhost.evil.example', false],
    ['127.0.0.1.evil.example', false],
    ['gw.example.com:x', false],
    ['', false],
    [undefined, true],
  ])('%p → %p', (host, expected) => {
    expect(hostAllowed(host, allowed)).toBe(expected);
  });

  it('lets everything through with ALLOWED_HOSTS=*', () => {
    expect(hostAllowed('evil.example', { any: true, names: [], defaulted: false })).toBe(true);
  });
});

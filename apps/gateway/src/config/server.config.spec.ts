import { hostname } from 'node:os';
import { loadServerConfig } from './server.config';

describe('server section: allowed hosts', () => {
  it('defaults to this machine and the HOST name (quick start)', () => {
    expect(loadServerConfig({}).hosts).toEqual({ any: false, names: [hostname().toLowerCase()], defaulted: true });
    expect(loadServerConfig({ HOST: 'gw.lan' }).hosts.names).toEqual([hostname().toLowerCase(), 'gw.lan']);
    expect(loadServerConfig({ HOST: '127.0.0.1' }).hosts.names).toEqual([hostname().toLowerCase()]);
  });

  it("takes PUBLIC_URL's host and ALLOWED_HOSTS instead of the defaults", () => {
    const c = loadServerConfig({
      PUBLIC_URL: 'https://Fieldline.example.com:8443/ops/',
      ALLOWED_HOSTS: 'gw-1.internal:3000, .Fleet.example',
    });
    expect(c.publicUrl).toBe('https://Fieldline.example.com:8443/ops');
    expect(c.hosts).toEqual({
      any: false,
      names: ['fieldline.example.com', 'gw-1.internal:3000', '.fleet.example'],
      defaulted: false,
    });
    expect(loadServerConfig({ ALLOWED_HOSTS: '*' }).hosts).toEqual({ any: true, names: [], defaulted: false });
  });

  it.each([
    [{ PUBLIC_URL: 'fieldline.example.com' }, 'PUBLIC_URL: must be a URL, got "fieldline.example.com"'],
    [{ PUBLIC_URL: 'ftp://fieldline.example.com' }, 'PUBLIC_URL: must use http: or https:, got "ftp:"'],
    [{ ALLOWED_HOSTS: 'ok.example, https://x.example' }, 'ALLOWED_HOSTS: "https://x.example" is not a host name'],
    [{ ALLOWED_HOSTS: 'a b' }, 'ALLOWED_HOSTS: "a b" is not a host name'],
  ])('refuses %p', (env, message) => {
    expect(() => loadServerConfig(env)).toThrow(message);
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { dashboardHandler, findDashboardDir } from './dashboard.static';

/** An express app with one gateway route, the dashboard after it, then a 404 (like Nest's not-found handler). */
async function serve(dir: string | null): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.get('/api/devices', (_req, res) => res.json([]));
  app.use(dashboardHandler(dir));
  app.use((_req, res) => res.status(404).json({ code: 'NOT_FOUND' }));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('dashboard static serving', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-dashboard-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(dir, 'main-ABCD1234.js'), 'console.log(1)');
    mkdirSync(join(dir, 'media'));
    writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the app, its files and index.html for app pages; gateway paths and missing files fall through', async () => {
    const s = await serve(dir);
    try {
      const get = (path: string, accept = '*/*') => fetch(s.url + path, { headers: { accept } });
      const root = await get('/', 'text/html');
      expect(await root.text()).toContain('<title>app</title>');
      expect(root.headers.get('cache-control')).toBe('no-cache');
      const deep = await get('/devices/pump.7', 'text/html,application/xhtml+xml');
      expect(deep.status).toBe(200);
      expect(await deep.text()).toContain('<title>app</title>');
      expect((await get('/devices/pump-7')).status).toBe(200); // no extension: a page
      const js = await get('/main-ABCD1234.js');
      expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await get('/favicon.svg')).headers.get('cache-control')).toBe('no-cache');
      expect((await get('/missing-ABCD1234.js')).status).toBe(404);
      expect(await (await get('/api/devices', 'text/html')).json()).toEqual([]);
      for (const path of ['/api/nope', '/socket.io/x', '/ingest', '/health/x', '/metrics']) {
        expect((await get(path, 'text/html')).status).toBe(404);
      }
      expect((await fetch(s.url + '/devices/x', { method: 'POST' })).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('without a build, / explains how to build it', async () => {
    const s = await serve(null);
    try {
      const root = await fetch(s.url + '/');
      expect(await root.text()).toContain('npm run build');
      expect((await fetch(s.url + '/devices/x')).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('finds the build from the compiled gateway and from its sources', () => {
    const root = mkdtempSync(join(tmpdir(), 'fieldline-root-'));
    try {
      mkdirSync(join(root, 'dist/dashboard/browser'), { recursive: true });
      writeFileSync(join(root, 'dist/dashboard/browser/index.html'), '');
      const built = join(root, 'dist/dashboard/browser');
      expect(findDashboardDir(join(root, 'dist/apps/gateway/src/dashboard'))).toBe(built);
      expect(findDashboardDir(join(root, 'apps/gateway/src/dashboard'))).toBe(built);
      expect(findDashboardDir(join(root, 'dist/apps/gateway/src/elsewhere/x'))).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

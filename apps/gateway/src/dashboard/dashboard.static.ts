import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express, { type RequestHandler } from 'express';
import { PLACEHOLDER_PAGE } from './placeholder.page';

/** Paths that belong to the gateway's own endpoints: never answered with the dashboard. */
export const NOT_DASHBOARD = ['/api', '/socket.io', '/ingest', '/health', '/metrics'];

/** Angular's build names every bundle `<name>-<HASH>.<ext>`: such files never change and may be cached for good. */
const HASHED = /-[A-Z0-9]{8}\.(js|css|mjs)$/;

/**
 * Where the built dashboard is: `dist/dashboard/browser`, found from the gateway's compiled location
 * (`dist/apps/gateway/src/dashboard`) or from its sources (tests run them through ts-jest). Null when not built.
 */
export function findDashboardDir(from: string = __dirname): string | null {
  for (const dir of [
    resolve(from, '../../../../dashboard/browser'),
    resolve(from, '../../../../dist/dashboard/browser'),
  ]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return null;
}

function isGatewayPath(path: string): boolean {
  return NOT_DASHBOARD.some((p) => path === p || path.startsWith(p + '/'));
}

/**
 * Serves the dashboard after every gateway route: its files, then `index.html` for any other page the browser
 * navigates to (`/devices/pump-7`: the Angular router takes it from there). Gateway paths (`/api`, `/socket.io`,
 * `/ingest`, `/health`, `/metrics`) and missing files fall through to the gateway's 404. Without a build, `/` shows a
 * page saying how to build it.
 */
export function dashboardHandler(dir: string | null): RequestHandler {
  if (dir === null) {
    return (req, res, next) => {
      if ((req.method === 'GET' || req.method === 'HEAD') && req.path === '/') {
        res.type('html').setHeader('Cache-Control', 'no-cache');
        res.send(PLACEHOLDER_PAGE);
        return;
      }
      next();
    };
  }
  const index = join(dir, 'index.html');
  const files = express.static(dir, {
    index: false,
    redirect: false,
    setHeaders: (res, path) => {
      res.setHeader('Cache-Control', HASHED.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || isGatewayPath(req.path)) return next();
    files(req, res, (err?: unknown) => {
      if (err) return next(err);
      // A page, not a file: a browser navigation (Accept: text/html) or a path whose last segment has no extension.
      const last = req.path.slice(req.path.lastIndexOf('/') + 1);
      if (!(req.headers.accept ?? '').includes('text/html') && last.includes('.')) return next();
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(index, (err) => {
        if (err) next(err);
      });
    });
  };
}

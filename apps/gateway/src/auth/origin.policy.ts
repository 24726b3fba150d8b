import type { IncomingHttpHeaders } from 'node:http';
import type { ServerConfig } from '../config/server.config';
import { hostAllowed } from './host.policy';

/** What the origin check reads from the configuration. */
export type OriginRules = Pick<ServerConfig, 'corsOrigins' | 'hosts' | 'publicUrl'>;

/** Same origin only, any host: for parts built without a configuration (unit tests). */
export const SAME_ORIGIN_ANY_HOST: OriginRules = {
  corsOrigins: [],
  publicUrl: null,
  hosts: { any: true, names: [], defaulted: false },
};

/**
 * The origin allowlist. A request without an `Origin` header (devices, scripts, server-side clients) is not a
 * browser's cross-site request and passes; one with an `Origin` passes when it is listed in CORS_ORIGINS, is
 * PUBLIC_URL's origin, or is the gateway's own origin under an allowed host name: the same host and port as the
 * `Host` header (or `X-Forwarded-Host` behind a proxy), that host being one the gateway answers to (ALLOWED_HOSTS,
 * host.policy.ts). The `Host` alone proves nothing: under DNS rebinding `Origin` and `Host` agree on the attacker's
 * name.
 */
export function originAllowed(headers: IncomingHttpHeaders, rules: OriginRules): boolean {
  const origin = headers.origin;
  if (origin === undefined) return true;
  if (rules.corsOrigins.includes(origin)) return true;
  let host: string;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    if (rules.publicUrl !== null && u.origin === new URL(rules.publicUrl).origin) return true;
    host = u.host.toLowerCase();
  } catch {
    return false; // includes the literal "null" origin of sandboxed frames and file:// pages
  }
  const forwarded = headers['x-forwarded-host'];
  const own = [headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',') : [])];
  return own.some((h) => h !== undefined && h.trim().toLowerCase() === host && hostAllowed(h.trim(), rules.hosts));
}

import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { checked, type Env, integer, list, matching, oneOf, parseSection, refuse, url, withDefault } from './env';

/** An address block of trusted proxies (`10.0.0.0/8`, `::1/128`; a bare address is a block of one). */
export interface AddressBlock {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Where the client address of a request comes from when the gateway sits behind a proxy. */
export interface TrustProxy {
  /** Lower-case header name, e.g. `x-forwarded-for`: a comma-separated list, the proxy appends on the right. */
  header: string;
  /** Only a request whose socket address is in one of these blocks may name its client in {@link header}. */
  proxies: AddressBlock[];
}

/** The host names the gateway answers to (the `Host` header); see auth/host.policy.ts for how they are matched. */
export interface AllowedHosts {
  /** `ALLOWED_HOSTS=*`: no check (a proxy in front checks `Host`). */
  any: boolean;
  /**
   * Lower-case entries, each `name` (any port), `name:port` or `.suffix` (the name and every name below it). IP
   * addresses and `localhost` are allowed besides these: a DNS-rebinding page always sends its own domain name.
   */
  names: string[];
  /** Neither PUBLIC_URL nor ALLOWED_HOSTS is set: `names` are the defaults (this machine's name, HOST's name). */
  defaulted: boolean;
}

/** The HTTP side of a node: where it listens, which browser origins it serves, how it logs. */
export interface ServerConfig {
  /** HTTP port: REST, Socket.IO, WebSocket `/ingest`, dashboard (0 picks a free one). */
  port: number;
  host: string;
  /** The URL operators open (`PUBLIC_URL`), without a trailing slash; null when unset. */
  publicUrl: string | null;
  /** Host names accepted in the `Host` header; any other is refused with 421 HOST_NOT_ALLOWED. */
  hosts: AllowedHosts;
  /** Browser origins allowed besides the same origin (REST, Socket.IO, `/ingest`). */
  corsOrigins: string[];
  /** Null (the default): the client address is the socket's, and no header is believed. */
  trustProxy: TrustProxy | null;
  /** Bounds on what a peer can hold before it is authenticated. */
  http: HttpLimits;
  log: {
    level: 'error' | 'warn' | 'log' | 'debug';
    /** `text` (readable, the default) or `json` (one JSON object a line, for log shippers). */
    format: 'text' | 'json';
  };
}

/** Node's HTTP server timeouts and the per-address connection cap. */
export interface HttpLimits {
  /** The request line and headers must arrive within this (Node's `headersTimeout`; its default is 60 s). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (Node's `requestTimeout`; its default is 300 s). */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections one remote address may hold until they are upgraded; one more is answered 503 and closed. */
  connectionsPerAddress: number;
}

const origin = z.string().refine((o) => URL.canParse(o) && new URL(o).origin === o, {
  error: (iss) => `"${String(iss.input)}" is not an origin such as https://ops.example.com`,
});

const block = checked((text): AddressBlock | { refused: string } => {
  const [address, bits, extra] = text.split('/');
  const v = isIP(address);
  const max = v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (v === 0 || extra !== undefined || !(prefix <= max))
    return { refused: `"${text}" is not an address or CIDR block such as 10.0.0.0/8 or fd00::/8` };
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
});

/** `name`, `name:port`, `.suffix` or `*`; a name is DNS labels (letters, digits, `-`, `_`). */
const HOST_ENTRY = /^(\*|\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?(:\d{1,5})?)$/;
const hostEntry = z
  .string()
  .transform((h) => h.toLowerCase())
  .refine((h) => HOST_ENTRY.test(h), {
    error: (iss) =>
      `"${String(iss.input)}" is not a host name such as gw.example.com, gw.example.com:8443 or .example.com`,
  });

const schema = z
  .object({
    PORT: integer(3000, 0, 65535),
    HOST: withDefault('0.0.0.0', z.string()),
    PUBLIC_URL: url(['http:', 'https:']),
    ALLOWED_HOSTS: list(hostEntry),
    CORS_ORIGINS: list(origin),
    TRUST_PROXY_HEADER: matching('', /^$|^[A-Za-z0-9-]{1,64}$/, 'a header name such as x-forwarded-for'),
    TRUSTED_PROXIES: list(block),
    LOG_LEVEL: oneOf('log', ['error', 'warn', 'log', 'debug'], 'must be error, warn, log or debug'),
    LOG_FORMAT: oneOf('text', ['text', 'json']),
    HTTP_HEADERS_TIMEOUT_MS: integer(10_000, 1000, 600_000),
    HTTP_REQUEST_TIMEOUT_MS: integer(30_000, 1000, 3_600_000),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: integer(5000, 1000, 600_000),
    HTTP_CONNECTIONS_PER_ADDRESS: integer(128, 1, 1_000_000),
  })
  .transform((e, ctx): ServerConfig => {
    const header = e.TRUST_PROXY_HEADER.toLowerCase();
    // One without the other would either believe every client's header or silently believe none.
    if (header !== '' && e.TRUSTED_PROXIES.length === 0)
      return refuse(ctx, 'TRUSTED_PROXIES', 'is required with TRUST_PROXY_HEADER: the addresses of your proxies');
    if (header === '' && e.TRUSTED_PROXIES.length > 0)
      return refuse(ctx, 'TRUST_PROXY_HEADER', 'is required with TRUSTED_PROXIES, e.g. x-forwarded-for');
    if (e.HTTP_REQUEST_TIMEOUT_MS < e.HTTP_HEADERS_TIMEOUT_MS)
      return refuse(ctx, 'HTTP_REQUEST_TIMEOUT_MS', 'must be at least HTTP_HEADERS_TIMEOUT_MS');
    return {
      port: e.PORT,
      host: e.HOST,
      publicUrl: e.PUBLIC_URL === null ? null : e.PUBLIC_URL.replace(/\/+$/, ''),
      hosts: allowedHosts(e.PUBLIC_URL, e.ALLOWED_HOSTS, e.HOST),
      corsOrigins: e.CORS_ORIGINS,
      trustProxy: header === '' ? null : { header, proxies: e.TRUSTED_PROXIES },
      http: {
        headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
        keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
        connectionsPerAddress: e.HTTP_CONNECTIONS_PER_ADDRESS,
      },
      log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    };
  });

function allowedHosts(publicUrl: string | null, listed: string[], bind: string): AllowedHosts {
  const names = listed.filter((h) => h !== '*');
  if (publicUrl !== null) names.unshift(new URL(publicUrl).hostname.toLowerCase());
  if (publicUrl !== null || listed.length > 0) return { any: listed.includes('*'), names, defaulted: false };
  // Quick start: the names this machine is reached by on a LAN. HOST given as a name is the one the start-up lines print.
  const defaults = [hostname().toLowerCase()];
  if (isIP(bind) === 0 && bind !== '') defaults.push(bind.toLowerCase());
  return { any: false, names: defaults, defaulted: true };
}

/**
 * `PORT`, `HOST`, `PUBLIC_URL`, `ALLOWED_HOSTS`, `CORS_ORIGINS`, `TRUST_PROXY_HEADER`, `TRUSTED_PROXIES`, `LOG_LEVEL`,
 * `LOG_FORMAT`, `HTTP_HEADERS_TIMEOUT_MS`, `HTTP_REQUEST_TIMEOUT_MS`, `HTTP_KEEP_ALIVE_TIMEOUT_MS`,
 * `HTTP_CONNECTIONS_PER_ADDRESS`.
 */
export const loadServerConfig = (env: Env): ServerConfig => parseSection(schema, env);

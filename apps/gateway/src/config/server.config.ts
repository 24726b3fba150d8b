import { isIP } from 'node:net';
import { z } from 'zod';
import { checked, type Env, integer, list, matching, oneOf, parseSection, refuse, withDefault } from './env';

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

/** The HTTP side of a node: where it listens, which browser origins it serves, how it logs. */
export interface ServerConfig {
  /** HTTP port: REST, Socket.IO, WebSocket `/ingest`, dashboard (0 picks a free one). */
  port: number;
  host: string;
  /** Browser origins allowed besides the same origin (REST, Socket.IO, `/ingest`). */
  corsOrigins: string[];
  /** Null (the default): the client address is the socket's, and no header is believed. */
  trustProxy: TrustProxy | null;
  log: {
    level: 'error' | 'warn' | 'log' | 'debug';
    /** `text` (readable, the default) or `json` (one JSON object a line, for log shippers). */
    format: 'text' | 'json';
  };
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

const schema = z
  .object({
    PORT: integer(3000, 0, 65535),
    HOST: withDefault('0.0.0.0', z.string()),
    CORS_ORIGINS: list(origin),
    TRUST_PROXY_HEADER: matching('', /^$|^[A-Za-z0-9-]{1,64}$/, 'a header name such as x-forwarded-for'),
    TRUSTED_PROXIES: list(block),
    LOG_LEVEL: oneOf('log', ['error', 'warn', 'log', 'debug'], 'must be error, warn, log or debug'),
    LOG_FORMAT: oneOf('text', ['text', 'json']),
  })
  .transform((e, ctx): ServerConfig => {
    const header = e.TRUST_PROXY_HEADER.toLowerCase();
    // One without the other would either believe every client's header or silently believe none.
    if (header !== '' && e.TRUSTED_PROXIES.length === 0)
      return refuse(ctx, 'TRUSTED_PROXIES', 'is required with TRUST_PROXY_HEADER: the addresses of your proxies');
    if (header === '' && e.TRUSTED_PROXIES.length > 0)
      return refuse(ctx, 'TRUST_PROXY_HEADER', 'is required with TRUSTED_PROXIES, e.g. x-forwarded-for');
    return {
      port: e.PORT,
      host: e.HOST,
      corsOrigins: e.CORS_ORIGINS,
      trustProxy: header === '' ? null : { header, proxies: e.TRUSTED_PROXIES },
      log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    };
  });

/** `PORT`, `HOST`, `CORS_ORIGINS`, `TRUST_PROXY_HEADER`, `TRUSTED_PROXIES`, `LOG_LEVEL`, `LOG_FORMAT`. */
export const loadServerConfig = (env: Env): ServerConfig => parseSection(schema, env);

import { z } from 'zod';
import { type Env, integer, list, oneOf, parseSection, withDefault } from './env';

/** The HTTP side of a node: where it listens, which browser origins it serves, how it logs. */
export interface ServerConfig {
  /** HTTP port: REST, Socket.IO, WebSocket `/ingest`, dashboard (0 picks a free one). */
  port: number;
  host: string;
  /** Browser origins allowed besides the same origin (REST, Socket.IO, `/ingest`). */
  corsOrigins: string[];
  log: {
    level: 'error' | 'warn' | 'log' | 'debug';
    /** `text` (readable, the default) or `json` (one JSON object a line, for log shippers). */
    format: 'text' | 'json';
  };
}

const origin = z.string().refine((o) => URL.canParse(o) && new URL(o).origin === o, {
  error: (iss) => `"${String(iss.input)}" is not an origin such as https://ops.example.com`,
});

const schema = z
  .object({
    PORT: integer(3000, 0, 65535),
    HOST: withDefault('0.0.0.0', z.string()),
    CORS_ORIGINS: list(origin),
    LOG_LEVEL: oneOf('log', ['error', 'warn', 'log', 'debug'], 'must be error, warn, log or debug'),
    LOG_FORMAT: oneOf('text', ['text', 'json']),
  })
  .transform((e): ServerConfig => ({
    port: e.PORT,
    host: e.HOST,
    corsOrigins: e.CORS_ORIGINS,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
  }));

/** `PORT`, `HOST`, `CORS_ORIGINS`, `LOG_LEVEL`, `LOG_FORMAT`. */
export const loadServerConfig = (env: Env): ServerConfig => parseSection(schema, env);

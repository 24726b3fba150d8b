import { ConsoleLogger, type LoggerService, type LogLevel } from '@nestjs/common';

/** Structured fields of a log line: device id, error code, transport, request id and the like. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** The gateway's one logger interface; every component takes one (`logger('Context')`). */
export interface Logger {
  log(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

export type LogFormat = 'text' | 'json';
export type LogThreshold = 'error' | 'warn' | 'log' | 'debug';

const RANK: Record<LogLevel, number> = { fatal: 0, error: 1, warn: 2, log: 3, verbose: 4, debug: 4 };
const THRESHOLD: Record<LogThreshold, number> = { error: 1, warn: 2, log: 3, debug: 4 };
/** Nest's start-up chatter: one line per module and route. Shown only at LOG_LEVEL=debug. */
const NOISY_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'WebSocketsController']);
/** Longest message or field value written; peer-supplied strings (client ids, user names) are cut there. */
const MAX_VALUE_CHARS = 1000;

let format: LogFormat = 'text';
let threshold = THRESHOLD.log;
const text = new ConsoleLogger('Fieldline');

/** Sets the format (LOG_FORMAT) and level (LOG_LEVEL) of every logger, once at start. */
export function configureLogging(options: { format: LogFormat; level: LogThreshold }): void {
  format = options.format;
  threshold = THRESHOLD[options.level];
}

/** A logger whose lines name `context`. */
export function logger(context: string): Logger {
  return {
    log: (m, f) => write('log', context, m, f),
    warn: (m, f) => write('warn', context, m, f),
    error: (m, f) => write('error', context, m, f),
    debug: (m, f) => write('debug', context, m, f),
  };
}

/** Nest's own logs go through the same lines (`NestFactory.create(..., { logger: new NestLogger() })`). */
export class NestLogger implements LoggerService {
  log(message: unknown, context?: string): void {
    this.nest('log', message, context);
  }
  error(message: unknown, stackOrContext?: string, context?: string): void {
    this.nest('error', message, context ?? stackOrContext);
  }
  warn(message: unknown, context?: string): void {
    this.nest('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.nest('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.nest('verbose', message, context);
  }
  fatal(message: unknown, context?: string): void {
    this.nest('fatal', message, context);
  }

  private nest(level: LogLevel, message: unknown, context = 'Nest'): void {
    if (NOISY_CONTEXTS.has(context) && threshold < THRESHOLD.debug) return;
    write(
      level,
      context,
      message instanceof Error ? (message.stack ?? message.message) : String(message),
      undefined,
      false,
    );
  }
}

/** A value fit for one log line: control characters escaped (no forged lines), bounded in length. */
export function logSafe(value: string, maxChars = MAX_VALUE_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const escaped = value.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) =>
    c === '\n'
      ? '\\n'
      : c === '\r'
        ? '\\r'
        : c === '\t'
          ? '\\t'
          : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return escaped.length > maxChars ? `${escaped.slice(0, maxChars)}…` : escaped;
}

/**
 * Messages of the gateway's own loggers may quote what a peer sent (a client id, a user name): in text format they
 * are escaped like field values, so one log call is one line whatever the peer put in it (a stack too).
 */
const MAX_MESSAGE_CHARS = 8000;

function write(level: LogLevel, context: string, message: string, fields?: LogFields, own = true): void {
  if (RANK[level] > threshold) return;
  if (format === 'json') {
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, context, msg: message };
    if (fields) for (const k in fields) if (fields[k] !== undefined) line[k] = fields[k];
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  let out = own ? logSafe(message, MAX_MESSAGE_CHARS) : message;
  if (fields) {
    for (const k in fields) {
      const v = fields[k];
      if (v !== undefined) out += ` ${k}=${typeof v === 'string' ? logSafe(v) : String(v)}`;
    }
  }
  switch (level) {
    case 'fatal':
      return text.fatal(out, context);
    case 'error':
      return text.error(out, context);
    case 'warn':
      return text.warn(out, context);
    case 'debug':
    case 'verbose':
      return text.debug(out, context);
    case 'log':
      return text.log(out, context);
  }
}

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/*
 * The InfluxDB 1.x HTTP API the store needs, on one keep-alive agent: POST /write, POST /query, GET /ping.
 *
 * Why node:http and not the `influx` npm library (which the store used beside a hand-written writer before): the
 * write path posts line protocol the store builds in one pass over the batch, while the library takes point objects
 * and serialises them again; its pool also retries and fails over on its own, hiding failures from the write buffer,
 * which owns retries and dead-lettering and needs the status and body of a refused write. Everything else the store
 * asked the library for (SHOW DATABASES, SHOW RETENTION POLICIES, CREATE ..., raw queries, ping) is a statement on
 * /query or a GET of /ping, a few lines here. One client, one agent (and one for /ping), one timeout, closed with the
 * store.
 */

/** Where the store connects, from `INFLUX_URL`. */
export interface InfluxTarget {
  protocol: 'http' | 'https';
  host: string;
  port: number;
  database: string;
  username?: string;
  password?: string;
}

/** Parses `…/database` URLs; credentials may sit in the URL (never in the repo: they come from the environment). */
export function parseInfluxUrl(url: string): InfluxTarget {
  const u = new URL(url);
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  const database = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, '')) || 'fieldline';
  return {
    protocol,
    host: u.hostname,
    port: u.port ? Number(u.port) : protocol === 'https' ? 443 : 8086,
    database,
    ...(u.username ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : {}),
  };
}

/** One series of a /query answer. */
export interface RawSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** The answer to one statement of a /query request. */
export interface RawResult {
  statement_id: number;
  series?: RawSeries[];
  error?: string;
}

/** A status and body InfluxDB answered with. */
export interface InfluxResponse {
  status: number;
  text: string;
}

export class InfluxHttp {
  private readonly agent: HttpAgent;
  /**
   * /ping has its own connection: behind a busy query agent (HTTPS keeps 8 sockets) the health check would wait for
   * operators' queries and turn /health 503 (issue 15).
   */
  private readonly pingAgent: HttpAgent;
  private readonly auth: string | null;

  constructor(
    readonly target: InfluxTarget,
    private readonly timeoutMs: number,
  ) {
    this.agent =
      target.protocol === 'https'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 8 })
        : new HttpAgent({ keepAlive: true });
    this.pingAgent =
      target.protocol === 'https'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 1 })
        : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.auth =
      target.username !== undefined
        ? `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`
        : null;
  }

  /** `protocol://host:port`, for messages (no credentials). */
  get origin(): string {
    const { protocol, host, port } = this.target;
    return `${protocol}://${host}:${port}`;
  }

  /** POSTs line protocol (ns precision) to `rp`. Resolves with any answer; rejects on a network error or timeout. */
  write(body: string, rp: string): Promise<InfluxResponse> {
    const path = `/write?db=${encodeURIComponent(this.target.database)}&rp=${encodeURIComponent(rp)}&precision=ns`;
    return this.request('POST', path, body, 'text/plain; charset=utf-8', 'write');
  }

  /**
   * Runs statements in one request (times in ms) against the target database and `rp`, and returns one result per
   * statement. Rejects when InfluxDB refuses the request or any statement.
   */
  async query(statements: string[], rp?: string): Promise<RawResult[]> {
    const params = new URLSearchParams({ q: statements.join(';\n'), db: this.target.database, epoch: 'ms' });
    if (rp !== undefined) params.set('rp', rp);
    const res = await this.request('POST', '/query', params.toString(), 'application/x-www-form-urlencoded', 'query');
    let parsed: { results?: RawResult[]; error?: string };
    try {
      parsed = JSON.parse(res.text) as { results?: RawResult[]; error?: string };
    } catch {
      throw new Error(`InfluxDB query failed (${res.status}): ${errorText(res.text)}`);
    }
    if (parsed.error) throw new Error(`InfluxDB query failed: ${parsed.error}`);
    if (res.status < 200 || res.status >= 300) throw new Error(`InfluxDB query failed (${res.status})`);
    const results = parsed.results ?? [];
    for (const r of results) if (r.error) throw new Error(`InfluxDB query failed: ${r.error}`);
    if (results.length !== statements.length) throw new Error('InfluxDB answered fewer statements than asked');
    return results;
  }

  /** Resolves when /ping answers 2xx within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    const res = await this.request('GET', '/ping', '', null, 'ping', timeoutMs, this.pingAgent);
    if (res.status < 200 || res.status >= 300) throw new Error(`InfluxDB /ping answered ${res.status}`);
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
    this.pingAgent.destroy();
  }

  private request(
    method: 'GET' | 'POST',
    path: string,
    body: string,
    contentType: string | null,
    what: string,
    timeoutMs = this.timeoutMs,
    agent = this.agent,
  ): Promise<InfluxResponse> {
    const { protocol, host, port } = this.target;
    const request = protocol === 'https' ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = {};
    if (contentType !== null) {
      headers['content-type'] = contentType;
      headers['content-length'] = Buffer.byteLength(body);
    }
    if (this.auth !== null) headers.authorization = this.auth;
    return new Promise<InfluxResponse>((resolve, reject) => {
      const req = request({ host, port, path, method, agent, timeout: timeoutMs, headers }, (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('timeout', () => req.destroy(new Error(`InfluxDB ${what} timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The `error` of a JSON answer, else the start of the body. */
export function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: string };
    if (parsed.error) return parsed.error;
  } catch {
    // not JSON
  }
  return body.slice(0, 300);
}

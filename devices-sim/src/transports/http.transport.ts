import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Backoff, readingsPath, type ReconnectOptions } from '@fieldline/contracts';
import { outcomeOfHttp } from '../replies';
import { type OutMessage, type Transport, TransportError, type TransportSink, waitFor } from './transport';

export interface HttpTransportOptions {
  /** Gateway HTTP base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Device token: `Authorization: Bearer`. */
  token?: string;
  /** Concurrent requests (and keep-alive connections) per device. Default 16. */
  maxInFlight?: number;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Backoff of the probes that find the gateway again. */
  reconnect?: ReconnectOptions;
}

interface HttpAnswer {
  status: number;
  text: string;
}

/**
 * `POST /api/devices/<id>/readings` per message, over node:http with a keep-alive agent per device (several times
 * the request rate of the global fetch, which matters for benchmarks). "Connected" means the gateway answered the
 * latest request or probe; after a network failure the device probes with backoff and resends.
 */
export class HttpTransport implements Transport {
  private up = false;
  private inFlight = 0;
  private closing = false;
  private readonly backoff: Backoff;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  private readonly openWaiters = new Set<() => void>();
  private readonly base: URL;
  private readonly endpoint: URL;
  private readonly headers: Record<string, string>;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly newAgent: () => HttpAgent;

  constructor(
    private readonly sink: TransportSink,
    private readonly options: HttpTransportOptions,
  ) {
    this.base = new URL(options.url.replace(/^ws/i, 'http'));
    const basePath = this.base.pathname.replace(/\/+$/, '');
    this.endpoint = new URL(`${basePath}${readingsPath(sink.id)}`, this.base);
    this.headers = { 'content-type': 'application/json' };
    if (options.token) this.headers.authorization = `Bearer ${options.token}`;
    this.maxInFlight = options.maxInFlight ?? 16;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const https = this.base.protocol === 'https:';
    this.request = https ? httpsRequest : httpRequest;
    this.newAgent = () => new (https ? HttpsAgent : HttpAgent)({ keepAlive: true, maxSockets: this.maxInFlight });
    this.agent = this.newAgent();
    this.backoff = new Backoff(options.reconnect);
  }

  get connected(): boolean {
    return this.up;
  }

  get writable(): boolean {
    return this.up && this.inFlight < this.maxInFlight;
  }

  connect(timeoutMs: number): Promise<boolean> {
    this.closing = false;
    if (this.up) return Promise.resolve(true);
    void this.probe();
    return waitFor((finish) => {
      const onUp = (): void => finish(true);
      this.openWaiters.add(onUp);
      return () => this.openWaiters.delete(onUp);
    }, timeoutMs);
  }

  send(msg: OutMessage): void {
    this.inFlight++;
    this.call('POST', this.endpoint, msg.payload).then(
      ({ status, text }) => {
        this.inFlight--;
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON (a proxy's error page): outcomeOfHttp counts it by status
        }
        this.sink.answered(msg, outcomeOfHttp(status, body, msg.count), { status, body });
        this.sink.drained();
      },
      () => {
        this.inFlight--;
        this.sink.failed([msg], TransportError.SEND_FAILED, true);
        this.markDown();
      },
    );
  }

  /** Kills every connection, requests in flight included (they fail and are resent once the gateway answers again). */
  drop(): void {
    if (!this.up) return;
    const old = this.agent;
    this.agent = this.newAgent();
    old.destroy();
    this.markDown();
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    this.up = false;
    // Idle keep-alive sockets would hold the process (and the gateway's connection count) open.
    this.agent.destroy();
    return Promise.resolve();
  }

  private call(method: string, url: URL, body?: string | Buffer): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const headers = body === undefined ? {} : { ...this.headers, 'content-length': String(Buffer.byteLength(body)) };
      const req = this.request(url, { method, headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }

  private markDown(): void {
    if (!this.up) return;
    this.up = false;
    this.backoff.down();
    this.sink.disconnected('request failed');
    this.scheduleProbe();
  }

  /** Any HTTP answer (even 404) proves the gateway reachable; only network failures count as down. */
  private async probe(): Promise<void> {
    if (this.probing || this.closing) return;
    this.probing = true;
    try {
      await this.call('GET', new URL(`${this.base.pathname.replace(/\/+$/, '')}/health`, this.base));
      if (!this.closing && !this.up) {
        this.up = true;
        this.backoff.up();
        for (const w of [...this.openWaiters]) w();
        this.sink.connected();
      }
    } catch {
      if (!this.closing) this.sink.error(TransportError.CONNECT_FAILED);
      this.scheduleProbe();
    } finally {
      this.probing = false;
    }
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.closing) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.probe();
    }, this.backoff.next());
  }
}

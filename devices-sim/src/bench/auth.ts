import { randomBytes } from 'node:crypto';
import { AuthPath, deviceTokenPath } from '@fieldline/contracts';

/** What a target needs from credentials; baselines (bare brokers, the relay) use {@link NO_CREDENTIALS}. */
export interface Credentials {
  /** Device tokens by device id for the Simulator's `tokens` option; undefined when devices need none. */
  deviceTokens(baseUrl: string, ids: readonly string[]): Promise<Record<string, string> | undefined>;
  /** `auth` payload of operator Socket.IO connections; undefined when `/telemetry` is open. */
  operatorAuth(baseUrl: string): Promise<{ token: string } | undefined>;
  /** Headers for the gateway's REST endpoints (history, /metrics). */
  headers(baseUrl: string): Promise<Record<string, string>>;
}

export const NO_CREDENTIALS: Credentials = {
  deviceTokens: () => Promise.resolve(undefined),
  operatorAuth: () => Promise.resolve(undefined),
  headers: () => Promise.resolve({}),
};

// The gateway's auth endpoints (operator login, device registration). Kept here, in the one place the bench handles
// credentials, so that the harness also runs against builds that predate them.
const LOGIN_PATH = AuthPath.login;
const REGISTER_PATH = AuthPath.devices;
const tokenPath = deviceTokenPath;

/**
 * Credentials for the gateway under test, in one place. The gateway is started with a random JWT_SECRET and
 * ADMIN_PASSWORD; the harness logs in as `admin` and registers its devices for tokens. A gateway without auth answers
 * the login with 404: then nothing is sent, and devices and operators connect without credentials.
 */
export class GatewayCredentials implements Credentials {
  readonly jwtSecret = randomBytes(32).toString('hex');
  readonly adminPassword = randomBytes(12).toString('base64url');
  private login: Promise<string | null> | null = null;

  /** Environment for the gateway process. */
  gatewayEnv(): Record<string, string> {
    return {
      JWT_SECRET: this.jwtSecret,
      ADMIN_PASSWORD: this.adminPassword,
      // Every bench operator socket logs in as `admin`: thousands of sockets (and their subscribes) of one operator,
      // far past the budget a person needs (docs/configuration.md, operator budgets).
      OPERATOR_SOCKETS: '100000',
      OPERATOR_RATE: '1000000',
      OPERATOR_BURST: '1000000',
    };
  }

  /** Variables from the caller's shell that would clash with these credentials (or lock /metrics): not passed on. */
  static readonly CLEARED_ENV = ['ADMIN_PASSWORD_HASH', 'USERS', 'USERS_FILE', 'METRICS_TOKEN'] as const;

  async deviceTokens(baseUrl: string, ids: readonly string[]): Promise<Record<string, string> | undefined> {
    const admin = await this.operatorToken(baseUrl);
    if (admin === null) return undefined;
    const tokens: Record<string, string> = {};
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++];
        tokens[id] = await this.registerDevice(baseUrl, admin, id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, ids.length) }, worker));
    return tokens;
  }

  async operatorAuth(baseUrl: string): Promise<{ token: string } | undefined> {
    const token = await this.operatorToken(baseUrl);
    return token === null ? undefined : { token };
  }

  async headers(baseUrl: string): Promise<Record<string, string>> {
    const token = await this.operatorToken(baseUrl);
    return token === null ? {} : { authorization: `Bearer ${token}` };
  }

  /** The admin's JWT, or null when the gateway has no login (no auth in this build). */
  private operatorToken(baseUrl: string): Promise<string | null> {
    this.login ??= (async () => {
      const res = await fetch(baseUrl + LOGIN_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: this.adminPassword }),
      });
      if (res.status === 404) return null;
      const body = (await res.json()) as { accessToken?: string };
      if (!res.ok || typeof body.accessToken !== 'string')
        throw new Error(`bench: admin login failed: HTTP ${res.status} ${JSON.stringify(body)}`);
      return body.accessToken;
    })();
    return this.login;
  }

  private async registerDevice(baseUrl: string, admin: string, deviceId: string): Promise<string> {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${admin}` };
    let res = await fetch(baseUrl + REGISTER_PATH, { method: 'POST', headers, body: JSON.stringify({ deviceId }) });
    // Already registered (a re-run on a kept data dir): a new token replaces the one we no longer know.
    if (res.status === 409) res = await fetch(baseUrl + tokenPath(deviceId), { method: 'POST', headers });
    const body = (await res.json()) as { token?: string };
    if (!res.ok || typeof body.token !== 'string')
      throw new Error(`bench: registering ${deviceId} failed: HTTP ${res.status} ${JSON.stringify(body)}`);
    return body.token;
  }
}

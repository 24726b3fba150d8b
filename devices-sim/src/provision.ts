import { readFileSync } from 'node:fs';
import { AuthPath, deviceTokenPath, type DeviceTokenResponse, type LoginResponse } from '@fieldline/contracts';

/**
 * Device tokens for the simulator: from a file, or issued by the gateway to an admin. Speaks only the public REST
 * API (`POST /api/auth/login`, `POST /api/devices`, `POST /api/devices/<id>/token`).
 */

/** Reads `{ "<device id>": "<token>", ... }`. */
export function readTokensFile(path: string): Record<string, string> {
  const data = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new Error(`${path}: expected a JSON object of device id → token`);
  for (const [id, token] of Object.entries(data)) {
    if (typeof token !== 'string' || token === '') throw new Error(`${path}: the token of ${id} is not a string`);
  }
  return data as Record<string, string>;
}

async function call<T>(url: string, init: RequestInit, what: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok && res.status !== 409) {
    const message = (body as { message?: string } | undefined)?.message ?? text.slice(0, 200);
    throw new Error(`${what}: HTTP ${res.status} ${message}`);
  }
  return { status: res.status, body: body as T };
}

/** Logs in as an operator; resolves with the access token. */
export async function login(baseUrl: string, username: string, password: string): Promise<string> {
  const { body } = await call<LoginResponse>(
    new URL(AuthPath.login, baseUrl).href,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) },
    `login as ${username}`,
  );
  return body.accessToken;
}

/**
 * Registers each device (an admin token is needed) and returns its token. A device that is already registered gets
 * a new token (rotation): the gateway shows a token only once, so the old one cannot be fetched again.
 */
export async function provisionDevices(
  baseUrl: string,
  adminToken: string,
  ids: readonly string[],
  concurrency = 8,
): Promise<Record<string, string>> {
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const tokens: Record<string, string> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++];
      let res = await call<DeviceTokenResponse>(
        new URL(AuthPath.devices, baseUrl).href,
        { method: 'POST', headers, body: JSON.stringify({ deviceId: id }) },
        `register ${id}`,
      );
      if (res.status === 409)
        res = await call<DeviceTokenResponse>(
          new URL(deviceTokenPath(id), baseUrl).href,
          { method: 'POST', headers },
          `rotate the token of ${id}`,
        );
      tokens[id] = res.body.token;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return tokens;
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, REQUEST_ID_HEADER } from '@fieldline/contracts';
import { spawnBuiltGateway, type BuiltGateway } from './built-gateway';
import { mqttConnectCode, waitFor } from './support';

/*
 * The gateway's log as a log shipper reads it (LOG_FORMAT=json): one JSON object a line, with fields a query can
 * filter on (transport, code, device, client id), and a request id that ties an HTTP answer to its lines.
 */
describe('structured logs (LOG_FORMAT=json)', () => {
  let dir: string;
  let gw: BuiltGateway;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-log-'));
    gw = await spawnBuiltGateway(dir, { LOG_FORMAT: 'json' });
  }, 30_000);

  afterAll(async () => {
    gw.kill();
    await gw.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  const lines = (): Record<string, unknown>[] =>
    gw
      .out()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes every line as one JSON object with time, level, context and msg', () => {
    const all = lines();
    expect(all.length).toBeGreaterThan(3);
    for (const l of all) {
      expect(typeof l.time).toBe('string');
      expect(['log', 'warn', 'error', 'debug', 'fatal', 'verbose']).toContain(l.level);
      expect(typeof l.msg).toBe('string');
    }
    // Nest's route-mapping chatter stays out at the default level.
    expect(all.some((l) => l.context === 'RouterExplorer')).toBe(false);
  });

  it('puts a refused MQTT CONNECT on one line with its transport, code and the client id as sent', async () => {
    const clientId = 'forged\n{"level":"log","msg":"admin logged in"}';
    const code = await mqttConnectCode(`mqtt://127.0.0.1:${gw.mqttPort}`, {
      clientId,
      username: 'no-such-device',
      password: 'wrong',
      reconnectPeriod: 0,
    });
    expect(code).toBe(5);
    await waitFor(() => lines().some((l) => l.clientId === clientId), 'the refusal line');
    const line = lines().find((l) => l.clientId === clientId)!;
    expect(line).toMatchObject({ level: 'warn', transport: 'mqtt', code: ErrorCode.UNAUTHORIZED, connack: 5 });
    expect(lines().some((l) => l.msg === 'admin logged in')).toBe(false);
  });

  it('answers every HTTP request with a request id: the caller’s when sane, else a new one', async () => {
    const mine = await fetch(`${gw.url}/health`, { headers: { [REQUEST_ID_HEADER]: 'lb-7f3a.42' } });
    expect(mine.headers.get(REQUEST_ID_HEADER)).toBe('lb-7f3a.42');
    const hostile = await fetch(`${gw.url}/health`, { headers: { [REQUEST_ID_HEADER]: 'x'.repeat(500) } });
    expect(hostile.headers.get(REQUEST_ID_HEADER)).toMatch(/^[0-9a-f-]{36}$/);
    const none = await fetch(`${gw.url}/api/devices`);
    expect(none.status).toBe(401);
    expect(none.headers.get(REQUEST_ID_HEADER)).toMatch(/^[0-9a-f-]{36}$/);
  });
});

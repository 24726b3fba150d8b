/*
 * Commands against a real gateway: operators over REST, devices over WebSocket ingest (`ws`) and the embedded broker
 * (`mqtt`), the state store in DATA_DIR/state.sqlite (restarted on the same directory for the restart case).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import {
  AUDIT_PATH,
  AuditAction,
  AuthPath,
  type Command,
  type CommandDelivery,
  CommandErrorCode,
  CommandFrameType,
  CommandsEvent,
  cancelCommandPath,
  commandPath,
  commandResultTopic,
  commandsPath,
  type DeviceMessageFrame,
  errorsTopic,
  INGEST_PATH,
  Namespace,
} from '@fieldline/contracts';
import { login, sleep, startGateway, type TestGateway, waitFor } from './support';

/** How a test device answers: result, ack only, nothing, or a failure. */
type Mode = 'answer' | 'ack-only' | 'silent' | 'fail';

/** A device that records the commands it receives and answers them as told. */
interface CommandDevice {
  received: CommandDelivery[];
  mode: Mode;
  close(): Promise<void>;
}

async function wsCommandDevice(
  gw: TestGateway,
  deviceId: string,
  mode: Mode = 'answer',
): Promise<CommandDevice & { ws: WebSocket; frames: unknown[] }> {
  const token = await gw.deviceToken(deviceId);
  const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + INGEST_PATH, {
    headers: { authorization: `Bearer ${token}` },
  });
  const dev = {
    ws,
    received: [] as CommandDelivery[],
    frames: [] as unknown[],
    mode,
    close: async () => {
      ws.close();
      await new Promise((r) => ws.once('close', r));
    },
  };
  ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as DeviceMessageFrame | { type: string };
    dev.frames.push(frame);
    if (frame.type !== 'message' || (frame as DeviceMessageFrame).channel !== 'commands') return;
    const cmd = (frame as DeviceMessageFrame).payload as CommandDelivery;
    dev.received.push(cmd);
    if (dev.mode === 'silent') return;
    ws.send(JSON.stringify({ type: CommandFrameType.ack, id: cmd.id }));
    if (dev.mode === 'ack-only' || cmd.oneWay) return;
    const reply =
      dev.mode === 'fail'
        ? { status: 'failed', error: { code: 'VALVE_STUCK', message: 'the valve did not move' } }
        : { status: 'succeeded', result: { echo: cmd.params, method: cmd.method } };
    ws.send(JSON.stringify({ type: CommandFrameType.result, id: cmd.id, ...reply }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return dev;
}

async function mqttCommandDevice(
  gw: TestGateway,
  deviceId: string,
  mode: Mode = 'answer',
  opts: mqtt.IClientOptions = {},
): Promise<CommandDevice & { client: MqttClient; errors: unknown[] }> {
  const client = await mqtt.connectAsync(gw.mqttUrl!, {
    clientId: `${deviceId}-cmd`,
    username: deviceId,
    password: await gw.deviceToken(deviceId),
    reconnectPeriod: 0,
    ...opts,
  });
  const dev = {
    client,
    received: [] as CommandDelivery[],
    errors: [] as unknown[],
    mode,
    close: () => client.endAsync(),
  };
  client.on('message', (topic, payload) => {
    if (topic === errorsTopic(deviceId)) return void dev.errors.push(JSON.parse(payload.toString()));
    const cmd = JSON.parse(payload.toString()) as CommandDelivery;
    dev.received.push(cmd);
    if (dev.mode === 'silent' || cmd.oneWay) return;
    // PUBACK is the ack on a persistent session; on a clean one the broker cannot match it to the publish.
    if (dev.mode === 'ack-only') {
      if (opts.clean === false) return;
      return void client.publishAsync(commandResultTopic(deviceId, cmd.id), '{"status":"delivered"}', { qos: 1 });
    }
    const reply =
      dev.mode === 'fail'
        ? { status: 'rejected', error: { message: 'unknown method' } }
        : { status: 'succeeded', result: { echo: cmd.params, method: cmd.method } };
    void client.publishAsync(commandResultTopic(deviceId, cmd.id), JSON.stringify(reply), { qos: 1 });
  });
  await client.subscribeAsync(errorsTopic(deviceId), { qos: 0 });
  await client.subscribeAsync(`devices/${deviceId}/commands/#`, { qos: 1 });
  return dev;
}

describe('commands', () => {
  let gw: TestGateway;
  let admin: string;
  beforeAll(async () => {
    gw = await startGateway();
    admin = await gw.adminToken();
  });
  afterAll(() => gw.stop());

  const post = async (deviceId: string, body: object, query = '', token = admin) => {
    const res = await fetch(gw.url + commandsPath(deviceId) + query, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Command, location: res.headers.get('location') };
  };
  const get = async (deviceId: string, id: string): Promise<Command> =>
    (await gw.get(commandPath(deviceId, id))).body as Command;
  const untilStatus = async (deviceId: string, id: string, status: Command['status'], ms = 5000): Promise<Command> => {
    let last: Command | undefined;
    await waitFor(
      async () => (last = await get(deviceId, id)).status === status,
      `command ${id} ${status} (is ${last?.status})`,
      ms,
    );
    return last!;
  };

  it('a command to an online WebSocket device succeeds with its result (wait), acked first', async () => {
    const dev = await wsCommandDevice(gw, 'cmd-ws-1');
    const { status, body, location } = await post('cmd-ws-1', { method: 'setRate', params: { hz: 5 } }, '?wait=5000');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      createdBy: 'admin',
      result: { echo: { hz: 5 }, method: 'setRate' },
    });
    expect(body.deliveredAt).not.toBeNull();
    expect(body.sentAt! <= body.deliveredAt! && body.deliveredAt! <= body.completedAt!).toBe(true);
    expect(location).toBe(commandPath('cmd-ws-1', body.id));
    expect(dev.received.map((c) => c.method)).toEqual(['setRate']);
    // A failure is the device's own error.
    dev.mode = 'fail';
    const failed = await post('cmd-ws-1', { method: 'openValve' }, '?wait=5000');
    expect(failed.body).toMatchObject({
      status: 'failed',
      error: { code: 'VALVE_STUCK', message: 'the valve did not move' },
    });
    // A malformed result frame is answered with an error on the connection, which keeps working.
    const n = dev.frames.length;
    dev.ws.send(JSON.stringify({ type: CommandFrameType.result, id: body.id, status: 'done' }));
    await waitFor(() => dev.frames.length > n, 'an error reply');
    expect(dev.frames[n]).toMatchObject({ type: 'error', code: 'INVALID_MESSAGE' });
    expect((await get('cmd-ws-1', body.id)).status).toBe('succeeded');
    dev.mode = 'answer';
    expect((await post('cmd-ws-1', { method: 'ping' }, '?wait=5000')).body.status).toBe('succeeded');
    await dev.close();
  });

  it('a command to an online MQTT device is delivered on its PUBACK and succeeds with its result', async () => {
    // A persistent session: PUBACK alone makes it delivered, not done.
    const dev = await mqttCommandDevice(gw, 'cmd-mq-1', 'ack-only', { clean: false });
    const acked = await post('cmd-mq-1', { method: 'reboot', timeoutMs: 5000 });
    expect(acked.status).toBe(202);
    await untilStatus('cmd-mq-1', acked.body.id, 'delivered');
    // A clean session acknowledges with a `delivered` reply on its results topic.
    const clean = await mqttCommandDevice(gw, 'cmd-mq-2', 'ack-only');
    const viaReply = await post('cmd-mq-2', { method: 'reboot', timeoutMs: 5000 });
    await untilStatus('cmd-mq-2', viaReply.body.id, 'delivered');
    await clean.close();
    expect((await get('cmd-mq-1', acked.body.id)).status).toBe('delivered');
    await fetch(gw.url + cancelCommandPath('cmd-mq-1', acked.body.id), {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    dev.mode = 'answer';
    const { status, body } = await post('cmd-mq-1', { method: 'setRate', params: [1, 2] }, '?wait=3000');
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'succeeded', result: { echo: [1, 2], method: 'setRate' } });
    expect(dev.received.map((c) => c.method)).toEqual(['reboot', 'setRate']);
    // A result on another device's topic is refused; a malformed one gets an error on the device's errors topic.
    await dev.client.publishAsync(commandResultTopic('cmd-mq-other', body.id), '{"status":"succeeded"}', { qos: 1 });
    await dev.client.publishAsync(commandResultTopic('cmd-mq-1', body.id), 'not json', { qos: 1 });
    await waitFor(() => dev.errors.length >= 2, 'two errors');
    expect(dev.errors).toEqual([
      expect.objectContaining({ code: 'FORBIDDEN' }),
      expect.objectContaining({ code: 'MALFORMED_JSON' }),
    ]);
    await dev.close();
  });

  it('Socket.IO operators see each change of status on /devices', async () => {
    const dev = await wsCommandDevice(gw, 'cmd-ws-io');
    const socket = io(gw.url + Namespace.devices, {
      auth: { token: await gw.operatorToken() },
      transports: ['websocket'],
      reconnection: false,
    });
    const seen: Command[] = [];
    socket.on(CommandsEvent.update, (c: Command) => seen.push(c));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const { body } = await post('cmd-ws-io', { method: 'blink' }, '?wait=5000');
    await waitFor(() => seen.some((c) => c.id === body.id && c.status === 'succeeded'), 'the succeeded event');
    expect(seen.filter((c) => c.id === body.id).map((c) => c.status)).toEqual([
      'queued',
      'sent',
      'delivered',
      'succeeded',
    ]);
    socket.close();
    await dev.close();
  });

  it('to an offline device: queued, then delivered in posting order after it connects', async () => {
    await gw.deviceToken('cmd-off-1');
    const ids: string[] = [];
    for (const method of ['a', 'b', 'c']) {
      const { status, body } = await post('cmd-off-1', { method, params: { method } });
      expect(status).toBe(202);
      expect(body.status).toBe('queued');
      ids.push(body.id);
    }
    const list = (await gw.get(`${commandsPath('cmd-off-1')}?status=queued`)).body as Command[];
    expect(list.map((c) => c.method)).toEqual(['c', 'b', 'a']);
    const dev = await wsCommandDevice(gw, 'cmd-off-1');
    for (const id of ids) await untilStatus('cmd-off-1', id, 'succeeded');
    expect(dev.received.map((c) => c.method)).toEqual(['a', 'b', 'c']);
    await dev.close();
  });

  it('not persistent: fails at once with DEVICE_OFFLINE when the device is offline', async () => {
    await gw.deviceToken('cmd-off-2');
    const { status, body } = await post('cmd-off-2', { method: 'now', persistent: false });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'failed', error: { code: CommandErrorCode.DEVICE_OFFLINE } });
  });

  it('timeout: a persistent command is sent again until its retries run out, then timed_out', async () => {
    const dev = await wsCommandDevice(gw, 'cmd-to-1', 'silent');
    const { body } = await post('cmd-to-1', { method: 'slow', timeoutMs: 300, retries: 1 });
    const done = await untilStatus('cmd-to-1', body.id, 'timed_out');
    expect(done).toMatchObject({ attempts: 2, error: { code: CommandErrorCode.TIMED_OUT } });
    expect(dev.received.map((c) => c.id)).toEqual([body.id, body.id]);
    // One in flight at a time: the next waited for the first to end.
    const once = await post('cmd-to-1', { method: 'slow', timeoutMs: 300, persistent: false }, '?wait=3000');
    expect(once.body).toMatchObject({ status: 'timed_out', attempts: 1 });
    await dev.close();
  });

  it('expiry: a command still queued when its ttl passes is expired and never sent', async () => {
    await gw.deviceToken('cmd-exp-1');
    const { body } = await post('cmd-exp-1', { method: 'late', ttlMs: 1000 });
    const done = await untilStatus('cmd-exp-1', body.id, 'expired');
    expect(done.error?.code).toBe(CommandErrorCode.EXPIRED);
    const dev = await wsCommandDevice(gw, 'cmd-exp-1');
    await sleep(300);
    expect(dev.received).toEqual([]);
    await dev.close();
  });

  it('cancel: a queued command is cancelled and never sent; a final one answers 409', async () => {
    await gw.deviceToken('cmd-cx-1');
    const { body } = await post('cmd-cx-1', { method: 'x' });
    const cancel = () =>
      fetch(gw.url + cancelCommandPath('cmd-cx-1', body.id), {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
      });
    const res = await cancel();
    expect(res.status).toBe(200);
    expect(((await res.json()) as Command).status).toBe('cancelled');
    expect((await cancel()).status).toBe(409);
    const dev = await wsCommandDevice(gw, 'cmd-cx-1');
    await sleep(300);
    expect(dev.received).toEqual([]);
    await dev.close();
  });

  it('idempotency key: a retried POST answers the first command and sends nothing twice', async () => {
    const dev = await wsCommandDevice(gw, 'cmd-idem-1');
    const first = await post('cmd-idem-1', { method: 'pulse', idempotencyKey: 'req-42' }, '?wait=5000');
    const again = await post('cmd-idem-1', { method: 'pulse', idempotencyKey: 'req-42' }, '?wait=5000');
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.status).toBe('succeeded');
    expect(dev.received).toHaveLength(1);
    // The key is per device.
    const other = await wsCommandDevice(gw, 'cmd-idem-2');
    expect((await post('cmd-idem-2', { method: 'pulse', idempotencyKey: 'req-42' }, '?wait=5000')).body.id).not.toBe(
      first.body.id,
    );
    await dev.close();
    await other.close();
  });

  it('collapse key: a newer command replaces a queued older one', async () => {
    await gw.deviceToken('cmd-col-1');
    const old = await post('cmd-col-1', { method: 'setpoint', params: 20, collapseKey: 'sp' });
    const other = await post('cmd-col-1', { method: 'light', params: 1, collapseKey: 'lamp' });
    const fresh = await post('cmd-col-1', { method: 'setpoint', params: 22, collapseKey: 'sp' });
    expect(await get('cmd-col-1', old.body.id)).toMatchObject({
      status: 'cancelled',
      error: { code: CommandErrorCode.COLLAPSED },
    });
    const dev = await wsCommandDevice(gw, 'cmd-col-1');
    await untilStatus('cmd-col-1', fresh.body.id, 'succeeded');
    expect(dev.received.map((c) => [c.method, c.params])).toEqual([
      ['light', 1],
      ['setpoint', 22],
    ]);
    expect((await get('cmd-col-1', other.body.id)).status).toBe('succeeded');
    await dev.close();
  });

  it('refuses viewers, bad requests and unknown devices', async () => {
    await gw.deviceToken('cmd-bad-1');
    expect((await post('cmd-bad-1', { method: 'x' }, '', await gw.operatorToken())).status).toBe(403);
    // The operator role may send; every post that reaches the command service is in the audit log, refusals too.
    const user = { username: 'op-1', role: 'operator', password: 'op-1-password-long' };
    const made = await fetch(gw.url + AuthPath.users, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(user),
    });
    expect(made.status).toBe(201);
    const opToken = ((await login(gw.url, user.username, user.password)).body as { accessToken: string }).accessToken;
    const asOperator = await post('cmd-bad-1', { method: 'y' }, '', opToken);
    expect(asOperator.status).toBe(202);
    expect(asOperator.body.createdBy).toBe('op-1');
    expect((await post('cmd-bad-1', { method: 'a/b' })).status).toBe(400);
    const audit = (await gw.get(`${AUDIT_PATH}?action=${AuditAction.commandSend}&target=cmd-bad-1`, admin)).body as {
      entries: { actor: string; ok: boolean; details?: Record<string, unknown> }[];
    };
    expect(audit.entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: 'op-1',
          ok: true,
          details: expect.objectContaining({ commandId: asOperator.body.id, method: 'y' }),
        }),
        expect.objectContaining({ actor: 'admin', ok: false, details: { code: 'INVALID_REQUEST' } }),
      ]),
    );
    expect((await post('cmd-bad-1', { method: 'a/b' })).status).toBe(400);
    expect((await post('cmd-bad-1', { method: 'x', timeoutMs: 5 })).status).toBe(400);
    expect((await post('cmd-bad-1', { method: 'x', extra: 1 })).status).toBe(400);
    expect((await post('cmd-bad-1', { method: 'x' }, '?wait=-1')).status).toBe(400);
    expect((await post('nobody-here', { method: 'x' })).status).toBe(404);
    expect((await gw.get(commandPath('cmd-bad-1', 'no-such'))).status).toBe(404);
    expect((await gw.get(`${commandsPath('cmd-bad-1')}?status=nope`)).status).toBe(400);
  });
});

describe('commands across a gateway restart (same DATA_DIR)', () => {
  let dir: string;
  let gw: TestGateway | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-commands-e2e-'));
  });
  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('queued and in-flight commands survive a restart and are delivered in order after it', async () => {
    gw = await startGateway({}, dir);
    const admin = await gw.adminToken();
    const post = async (body: object) => {
      const res = await fetch(gw!.url + commandsPath('cmd-rs-1'), {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Command;
    };
    // The first is sent to a device that never answers, then the gateway goes down: not final after the restart.
    const silent = await mqttCommandDevice(gw, 'cmd-rs-1', 'silent');
    const first = await post({ method: 'one', timeoutMs: 1000 });
    await waitFor(() => silent.received.length === 1, 'the first command at the device');
    await silent.close();
    const second = await post({ method: 'two' });
    const third = await post({ method: 'three' });
    await gw.stop();

    gw = await startGateway({}, dir);
    const before = (await gw.get(commandPath('cmd-rs-1', first.id))).body as Command;
    expect(['sent', 'delivered', 'queued']).toContain(before.status);
    const dev = await mqttCommandDevice(gw, 'cmd-rs-1');
    for (const c of [first, second, third]) {
      await waitFor(
        async () => ((await gw!.get(commandPath('cmd-rs-1', c.id))).body as Command).status === 'succeeded',
        `${c.method} succeeded`,
        8000,
      );
    }
    expect(dev.received.map((c) => c.method)).toEqual(['one', 'two', 'three']);
    await dev.close();
  });
});

describe('commands at shutdown', () => {
  it('a request waiting for a result is answered 202 with the command as it is, and the gateway stops', async () => {
    const gw = await startGateway();
    const dev = await wsCommandDevice(gw, 'cmd-sd-1', 'ack-only');
    const pending = fetch(`${gw.url}${commandsPath('cmd-sd-1')}?wait=30000`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ method: 'long', timeoutMs: 60_000 }),
    });
    await waitFor(() => dev.received.length === 1, 'the command at the device');
    const t0 = Date.now();
    await gw.stop();
    const res = await pending;
    expect(res.status).toBe(202);
    expect(((await res.json()) as Command).status).toBe('delivered');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

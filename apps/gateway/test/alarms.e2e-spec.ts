import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  ALARM_DELIVERY_HEADER,
  AUDIT_PATH,
  ALARM_SIGNATURE_HEADER,
  alarmActionPath,
  type AlarmEventPayload,
  AlarmPath,
  AlertsEvent,
  type AlertsSubscribeAck,
  Namespace,
  rulePath,
  telemetryTopic,
} from '@fieldline/contracts';
import { sleep, startGateway, type TestGateway, waitFor } from './support';

const ENV = { ALARM_TICK: '100ms' };

/** An operator on `/alerts` that records every change it is told, live or backfilled, once per sequence number. */
class AlertsOperator {
  readonly socket: Socket;
  readonly changes = new Map<number, AlarmEventPayload>();
  constructor(url: string, token: string) {
    this.socket = io(url + Namespace.alerts, { transports: ['websocket'], reconnection: false, auth: { token } });
    for (const e of [AlertsEvent.raised, AlertsEvent.updated, AlertsEvent.cleared])
      this.socket.on(e, (p: AlarmEventPayload) => this.changes.set(p.seq, p));
  }
  async subscribe(since?: number): Promise<AlertsSubscribeAck> {
    const ack: AlertsSubscribeAck = await this.socket
      .timeout(5000)
      .emitWithAck(AlertsEvent.subscribe, since === undefined ? {} : { since });
    if (ack.ok) for (const c of ack.backfill) this.changes.set(c.seq, c);
    return ack;
  }
  events(): string[] {
    return [...this.changes.values()].sort((a, b) => a.seq - b.seq).map((c) => `${c.event}:${c.alarm.state}`);
  }
  close(): void {
    this.socket.disconnect();
  }
}

async function send(gw: TestGateway, path: string, method: string, body?: unknown, token?: string) {
  const res = await fetch(gw.url + path, {
    method,
    headers: { authorization: `Bearer ${token ?? (await gw.adminToken())}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const RULE = {
  id: 'hot',
  name: 'too hot',
  devices: 'alarm-1',
  metric: 'temp',
  condition: {
    kind: 'above',
    levels: [
      { severity: 'warning', threshold: 80 },
      { severity: 'critical', threshold: 95 },
    ],
  },
  forMs: 1500,
  clear: { hysteresis: 5, forMs: 1000 },
  template: '{{device}} is at {{value}}',
};

describe('alarms (e2e)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(ENV);
  });
  afterAll(() => gw.stop());

  it('rules: versioned CRUD, admins only, bad bodies refused with the field', async () => {
    const viewer = await gw.operatorToken();
    expect((await send(gw, AlarmPath.rules, 'POST', { ...RULE, id: 'x' }, viewer)).status).toBe(403);
    const bad = await send(gw, AlarmPath.rules, 'POST', { ...RULE, id: 'x', forMs: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('INVALID_REQUEST');
    expect(bad.body.message).toMatch(/^forMs/);
    const created = await send(gw, AlarmPath.rules, 'POST', { ...RULE, id: 'tmp', forMs: 1 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'tmp', version: 1, updatedBy: 'admin' });
    expect((await send(gw, AlarmPath.rules, 'POST', { ...RULE, id: 'tmp' })).status).toBe(409);
    const { id: _id, ...spec } = RULE;
    const updated = await send(gw, rulePath('tmp'), 'PUT', { ...spec, forMs: 2 });
    expect(updated.body).toMatchObject({ version: 2, forMs: 2 });
    expect((await gw.get(`${rulePath('tmp')}/versions`)).body.map((r: { forMs: number }) => r.forMs)).toEqual([1, 2]);
    expect((await send(gw, rulePath('tmp'), 'DELETE')).status).toBe(204);
    expect((await gw.get(rulePath('tmp'))).status).toBe(404);
    expect((await send(gw, rulePath('tmp'), 'DELETE')).status).toBe(404);
  });

  it('raises after `for`, is acknowledged over REST, clears in the clear band after the clear duration', async () => {
    expect((await send(gw, AlarmPath.rules, 'POST', RULE)).status).toBe(201);
    const op = new AlertsOperator(gw.url, await gw.operatorToken());
    const ack = await op.subscribe();
    expect(ack.ok).toBe(true);

    const t0 = Date.now();
    expect((await gw.post('alarm-1', { ts: t0, metrics: { temp: 90 } })).status).toBe(202);
    await waitFor(() => op.events().length > 0, 'raised', 5000);
    const raised = [...op.changes.values()][0];
    expect(raised.event).toBe('raised');
    expect(raised.alarm).toMatchObject({
      state: 'active',
      severity: 'warning',
      value: 90,
      message: 'alarm-1 is at 90',
    });
    // Raised by the ticker (no second reading) once `for` had passed since the reading's timestamp.
    expect(raised.alarm.raisedAt! - t0).toBeGreaterThanOrEqual(1500);
    expect(raised.alarm.raisedAt! - t0).toBeLessThan(3000);

    const metrics = await (await fetch(gw.url + '/metrics')).text();
    expect(metrics).toMatch(/fieldline_alarms_open\{severity="warning"\} 1/);

    const open = await gw.get(`${AlarmPath.alarms}?state=open&device=alarm-1`);
    expect(open.body.alarms).toHaveLength(1);
    const id = open.body.alarms[0].id as string;
    expect((await send(gw, alarmActionPath(id, 'acknowledge'), 'POST', {}, await gw.operatorToken())).status).toBe(403);
    const acked = await send(gw, alarmActionPath(id, 'acknowledge'), 'POST', { comment: 'on it' });
    expect(acked.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'admin' });
    await waitFor(() => op.events().length === 2, 'updated');

    // Below the threshold but not 5 below it: stays raised.
    const dev = await gw.mqttDevice('alarm-1');
    await dev.publish(telemetryTopic('alarm-1'), { ts: Date.now(), metrics: { temp: 78 } });
    await sleep(1300);
    expect(op.events()).toEqual(['raised:active', 'updated:acknowledged']);
    const tClear = Date.now();
    await dev.publish(telemetryTopic('alarm-1'), { ts: tClear, metrics: { temp: 70 } });
    await waitFor(() => op.events().length === 3, 'cleared', 5000);
    const cleared = [...op.changes.values()].find((c) => c.event === 'cleared')!;
    expect(cleared.alarm.state).toBe('closed'); // acknowledged before it cleared: nobody needs to close it
    expect(cleared.alarm.clearedAt! - tClear).toBeGreaterThanOrEqual(1000);
    await dev.close();

    const detail = await gw.get(`${AlarmPath.alarms}/${id}`);
    expect(detail.body.history.map((h: { action: string; actor: string | null }) => `${h.action}/${h.actor}`)).toEqual([
      'raised/null',
      'acknowledged/admin',
      'cleared/null',
    ]);
    expect(detail.body.history[1].comment).toBe('on it');
    // Who did it is in the audit log too.
    const audit = await gw.get(`${AUDIT_PATH}?target=${id}`, await gw.adminToken());
    expect(
      audit.body.entries
        .map((e: { action: string; ok: boolean; actor: string }) => [e.action, e.ok, e.actor])
        .reverse(),
    ).toEqual([['alarm.acknowledge', true, 'admin']]);

    // A reconnecting operator catches up from its last sequence number.
    const late = new AlertsOperator(gw.url, await gw.operatorToken());
    const back = await late.subscribe(raised.seq);
    expect(back.ok && back.backfill.map((c) => c.event)).toEqual(['updated', 'cleared']);
    late.close();
    op.close();
    expect((await gw.get(`${AlarmPath.alarms}?state=open`)).body.alarms).toEqual([]);
  }, 20_000);

  it('refuses bad alarm queries and unknown alarms', async () => {
    expect((await gw.get(`${AlarmPath.alarms}?state=burning`)).status).toBe(400);
    expect((await send(gw, alarmActionPath('nope', 'acknowledge'), 'POST', {})).status).toBe(404);
    const op = new AlertsOperator(gw.url, await gw.operatorToken());
    const ack = await op.subscribe(-1);
    expect(ack.ok).toBe(false);
    op.close();
  });
});

describe('alarms across a restart (e2e)', () => {
  it('a pending alarm survives the restart and fires once, when its `for` is due', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-alarms-'));
    try {
      let gw = await startGateway(ENV, dir);
      expect((await send(gw, AlarmPath.rules, 'POST', { ...RULE, forMs: 6000 })).status).toBe(201);
      const t0 = Date.now();
      expect((await gw.post('alarm-1', { ts: t0, metrics: { temp: 90 } })).status).toBe(202);
      await waitFor(
        async () => (await gw.get(`${AlarmPath.alarms}?state=pending`)).body.alarms.length === 1,
        'a pending alarm',
      );
      await gw.stop();

      gw = await startGateway(ENV, dir);
      const op = new AlertsOperator(gw.url, await gw.operatorToken());
      expect((await op.subscribe(0)).ok).toBe(true);
      expect(Date.now() - t0).toBeLessThan(6000); // the restart took less than `for`: the ticker must fire it
      await waitFor(() => op.events().length > 0, 'raised after the restart', 8000);
      const raised = [...op.changes.values()][0];
      expect(raised.alarm.raisedAt! - t0).toBeGreaterThanOrEqual(6000);
      expect(raised.alarm.raisedAt! - t0).toBeLessThan(7500);
      expect(raised.alarm.pendingAt).toBe(t0);
      await sleep(1000);
      expect(op.events()).toEqual(['raised:active']);
      const all = (await gw.get(`${AlarmPath.alarms}?rule=hot`)).body.alarms;
      expect(all).toHaveLength(1);
      op.close();
      await gw.stop();

      // And a second restart with the alarm raised neither raises it again nor forgets it.
      gw = await startGateway(ENV, dir);
      const again = new AlertsOperator(gw.url, await gw.operatorToken());
      expect((await again.subscribe(raised.seq)).ok).toBe(true);
      await sleep(800);
      expect(again.events()).toEqual([]);
      expect((await gw.get(`${AlarmPath.alarms}?state=active`)).body.alarms).toHaveLength(1);
      again.close();
      await gw.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('alarm webhook (e2e)', () => {
  it('delivers one firing and one resolved notice, signed, retried after a failure', async () => {
    const taken: { delivery: string; body: any; signed: boolean }[] = [];
    let requests = 0;
    const receiver: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests++;
        // The first attempt fails: the notice must come again.
        if (requests === 1) return void res.writeHead(500).end();
        const raw = Buffer.concat(chunks).toString();
        const expected = `sha256=${createHmac('sha256', 'hook-secret').update(raw).digest('hex')}`;
        taken.push({
          delivery: String(req.headers[ALARM_DELIVERY_HEADER]),
          body: JSON.parse(raw),
          signed: req.headers[ALARM_SIGNATURE_HEADER] === expected,
        });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const gw = await startGateway({
      ...ENV,
      ALARM_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      ALARM_WEBHOOK_SECRET: 'hook-secret',
    });
    try {
      expect(
        (await send(gw, AlarmPath.rules, 'POST', { ...RULE, forMs: 0, clear: { hysteresis: 0, forMs: 0 } })).status,
      ).toBe(201);
      await gw.post('alarm-1', { ts: Date.now(), metrics: { temp: 99 } });
      await waitFor(() => taken.length === 1, 'the firing notice', 8000);
      await gw.post('alarm-1', { ts: Date.now(), metrics: { temp: 10 } });
      await waitFor(() => taken.length === 2, 'the resolved notice', 8000);
      await sleep(500);
      expect(requests).toBe(3);
      expect(taken.map((t) => [t.body.status, t.body.alerts[0].labels.severity, t.signed])).toEqual([
        ['firing', 'critical', true],
        ['resolved', 'critical', true],
      ]);
      expect(taken[0].body).toMatchObject({
        version: '4',
        receiver: 'fieldline',
        commonLabels: { alertname: 'too hot', device: 'alarm-1', rule: 'hot' },
        alerts: [{ endsAt: '0001-01-01T00:00:00Z', annotations: { summary: 'alarm-1 is at 99' } }],
      });
      expect(new Set(taken.map((t) => t.delivery)).size).toBe(2);
      expect(taken[0].delivery.startsWith(taken[0].body.alerts[0].generatorURL.split('/').pop())).toBe(true);
      const metrics = await (await fetch(gw.url + '/metrics')).text();
      expect(metrics).toMatch(/fieldline_alarm_notifications_total\{result="failed"\} 1/);
      expect(metrics).toMatch(/fieldline_alarm_notifications_total\{result="delivered"\} 2/);
    } finally {
      await gw.stop();
      receiver.close();
    }
  }, 30_000);
});

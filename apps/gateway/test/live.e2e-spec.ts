import { io } from 'socket.io-client';
import { type DeviceSummary, DevicesEvent, Namespace, type Reading } from '@fieldline/contracts';
import { sleep, startGateway, type TestGateway, waitFor } from './support';

const seqs = (rs: Reading[]) => rs.map((r) => r.seq);

describe('live fan-out: since backfill and presence', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ DEVICE_OFFLINE_AFTER_MS: '400', PRESENCE_TICK_MS: '50' });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('since backfill returns exactly the readings missed while disconnected, then live continues without duplicates', async () => {
    const base = Date.now() - 60_000;
    const send = (seq: number) => gw.post('bf-1', { ts: base + seq * 10, seq, metrics: { t: seq } });

    const op1 = await gw.operator();
    await op1.subscribe('bf-1');
    for (let s = 1; s <= 10; s++) await send(s);
    await waitFor(() => op1.received.length === 10, 'first 10 live');
    const last = op1.received[9].ts;
    op1.close();

    // Missed while away: some reach the store (wait past a flush), some are still in the write buffer.
    for (let s = 11; s <= 30; s++) await send(s);
    await sleep(300);
    for (let s = 31; s <= 35; s++) await send(s);

    const op2 = await gw.operator();
    const ack = await op2.subscribe('bf-1', last);
    expect(ack.ok).toBe(true);
    if (!ack.ok) return;
    // Readings the live fan-out had not yet handed out at the subscribe come live instead of in the backfill.
    const backfilled = seqs(ack.backfill);
    expect(backfilled.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => 11 + i));
    await waitFor(() => backfilled.length + op2.received.length === 25, 'the rest of 11..35 live');
    expect([...backfilled, ...seqs(op2.received)]).toEqual(Array.from({ length: 25 }, (_, i) => 11 + i));
    expect(ack.truncated).toBe(false);
    op2.received.length = 0;

    for (let s = 36; s <= 40; s++) await send(s);
    await waitFor(() => op2.received.length >= 5, 'live after resubscribe');
    await sleep(100);
    expect(seqs(op2.received)).toEqual([36, 37, 38, 39, 40]);
    op2.close();
  });

  it('backfill and live stitch exactly while the device keeps sending during the subscribe', async () => {
    const base = Date.now() - 30_000;
    let seq = 0;
    let sending = true;
    const sender = (async () => {
      while (sending) {
        seq++;
        const res = await gw.post('bf-2', { ts: base + seq, seq, metrics: { t: seq } });
        if (res.status !== 202) throw new Error(`reading ${seq}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    })();
    await waitFor(() => seq > 50, 'some readings sent');
    const op = await gw.operator();
    const ack = await op.subscribe('bf-2', base);
    await sleep(200);
    sending = false;
    await sender;
    await sleep(200);
    expect(ack.ok).toBe(true);
    if (!ack.ok) return;
    const got = [...ack.backfill, ...op.received].map((r) => r.seq!);
    expect(new Set(got).size).toBe(got.length); // no duplicate
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: seq }, (_, i) => i + 1)); // no gap
    op.close();
  });

  it('refuses a bad subscribe with an error ack and keeps the socket usable', async () => {
    const op = await gw.operator();
    expect(await op.subscribe('bad id')).toMatchObject({ ok: false, error: { code: 'INVALID_DEVICE_ID' } });
    expect(
      await op.socket.timeout(2000).emitWithAck('subscribe', { deviceId: 'ok-1', since: 'yesterday' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'INVALID_REQUEST' },
    });
    expect(await op.socket.timeout(2000).emitWithAck('subscribe', null)).toMatchObject({
      ok: false,
      error: { code: 'INVALID_DEVICE_ID' },
    });
    expect(await op.subscribe('ok-1')).toMatchObject({ ok: true });
    await gw.post('ok-1', { metrics: { t: 1 } });
    await waitFor(() => op.received.length === 1, 'reading after bad requests');
    op.close();
  });

  it('/devices sends a snapshot, then online, updated and offline after silence', async () => {
    await gw.post('pres-0', { metrics: { t: 0 } });
    const socket = io(gw.url + Namespace.devices, {
      transports: ['websocket'],
      reconnection: false,
      auth: { token: await gw.operatorToken() },
    });
    const events: [string, unknown][] = [];
    for (const e of [DevicesEvent.snapshot, DevicesEvent.online, DevicesEvent.offline, DevicesEvent.updated]) {
      socket.on(e, (p: unknown) => events.push([e, p]));
    }
    await waitFor(() => events.length > 0, 'snapshot');
    expect(events[0][0]).toBe('snapshot');
    expect((events[0][1] as DeviceSummary[]).some((d) => d.deviceId === 'pres-0')).toBe(true);

    await gw.post('pres-1', { metrics: { t: 1 } });
    await gw.post('pres-1', { metrics: { t: 2 } });
    await waitFor(
      () => events.some(([e, p]) => e === 'online' && (p as DeviceSummary).deviceId === 'pres-1'),
      'online',
    );
    await waitFor(
      () =>
        events.some(
          ([e, p]) =>
            e === 'updated' && (p as DeviceSummary[]).some((d) => d.deviceId === 'pres-1' && d.latest.t === 2),
        ),
      'updated',
    );
    await waitFor(
      () => events.some(([e, p]) => e === 'offline' && (p as DeviceSummary).deviceId === 'pres-1'),
      'offline',
      3000,
    );
    const { body } = await gw.get('/api/devices/pres-1');
    expect(body).toMatchObject({ deviceId: 'pres-1', online: false, latest: { t: 2 } });
    socket.disconnect();
  });

  it('leaves rooms on disconnect so nothing accumulates', async () => {
    const gauge = async (name: string) => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)![1]);
    };
    const sockets = await gauge('fieldline_operator_sockets');
    const rooms = await gauge('fieldline_device_rooms');
    const ops = await Promise.all(Array.from({ length: 20 }, () => gw.operator()));
    await Promise.all(ops.map((o, i) => o.subscribe(`leak-${i % 5}`)));
    expect(await gauge('fieldline_operator_sockets')).toBe(sockets + 20);
    expect(await gauge('fieldline_device_rooms')).toBe(rooms + 5);
    ops.forEach((o) => o.close());
    await waitFor(async () => (await gauge('fieldline_operator_sockets')) === sockets, 'sockets closed');
    expect(await gauge('fieldline_device_rooms')).toBe(rooms);
  });
});

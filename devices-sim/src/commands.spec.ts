/**
 * The simulator answers commands against a real gateway, over MQTT and WebSocket: results, configured failures and
 * silence (timed out by the gateway), and a delay between ack and result.
 */
import { type Command, commandsPath } from '@fieldline/contracts';
import { startGateway, type TestGateway, waitFor } from '../../apps/gateway/test/support';
import { type CommandBehaviour, CommandResponder } from './commands';
import type { Protocol } from './device.types';
import { Simulator } from './simulator';

jest.setTimeout(30_000);

describe('CommandResponder', () => {
  it('answers a repeated id as the first time, and keeps silent or fails as configured', () => {
    const r = new CommandResponder('d1', { silenceP: 0, failP: 0 });
    const cmd = { id: 'c1', method: 'm', params: 1, oneWay: false, deadline: 0 };
    const first = r.answer(cmd);
    expect(first).toEqual({ ack: true, reply: { status: 'succeeded', result: { method: 'm', params: 1 } } });
    expect(r.answer(cmd)).toBe(first);
    expect(r.tally).toMatchObject({ received: 2, repeated: 1, succeeded: 1 });
    expect(new CommandResponder('d1', { silenceP: 1 }).answer(cmd)).toEqual({ ack: false, reply: null });
    expect(new CommandResponder('d1', { failP: 1 }).answer(cmd).reply).toMatchObject({ status: 'failed' });
    expect(new CommandResponder('d1').answer({ ...cmd, oneWay: true })).toEqual({ ack: true, reply: null });
  });
});

describe.each<Protocol>(['mqtt', 'ws'])('simulated devices answer commands over %s', (protocol) => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(() => gw.stop());

  const send = async (deviceId: string, body: object, wait = 5000): Promise<Command> => {
    const res = await fetch(`${gw.url}${commandsPath(deviceId)}?wait=${wait}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as Command;
  };

  const run = async (ids: string[], commands: CommandBehaviour) => {
    const tokens: Record<string, string> = {};
    for (const id of ids) tokens[id] = await gw.deviceToken(id);
    const sim = new Simulator({ url: gw.url, mqttUrl: gw.mqttUrl!, protocol, ids, tokens, rate: 1, commands });
    await sim.start();
    return sim;
  };

  it('succeeds after the delay, fails and keeps silent as configured', async () => {
    const ok = `simcmd-${protocol}-ok`;
    const fail = `simcmd-${protocol}-fail`;
    const mute = `simcmd-${protocol}-mute`;
    const sims = [
      await run([ok], { delayMs: 200 }),
      await run([fail], { failP: 1 }),
      await run([mute], { silenceP: 1 }),
    ];
    // The MQTT devices subscribe after their CONNACK; the first command waits for that.
    const t0 = Date.now();
    const done = await send(ok, { method: 'setRate', params: { hz: 2 } });
    expect(done).toMatchObject({ status: 'succeeded', result: { method: 'setRate', params: { hz: 2 } } });
    expect(done.completedAt! - done.deliveredAt!).toBeGreaterThanOrEqual(150);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(await send(fail, { method: 'open' })).toMatchObject({ status: 'failed', error: { code: 'SIM_FAILURE' } });
    const silent = await send(mute, { method: 'open', timeoutMs: 300, persistent: false });
    expect(silent).toMatchObject({ status: 'timed_out', deliveredAt: null });
    await waitFor(() => (sims[0].stats().commands?.succeeded ?? 0) === 1, 'the tally');
    expect(sims[2].stats().commands).toMatchObject({ received: 1, silent: 1 });
    for (const s of sims) await s.stop();
  });
});

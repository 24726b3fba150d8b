/*
 * Commands through an external broker (a real Mosquitto): the gateway publishes to devices/<id>/commands/<method>
 * and takes results from its shared subscription to devices/+/results/+; a device's retained `online` is when
 * what was sent while it was away is sent again.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  type Command,
  type CommandDelivery,
  commandPath,
  commandResultTopic,
  commandsPath,
  STATUS_ONLINE,
  statusTopic,
} from '@fieldline/contracts';
import { startGateway, type TestGateway, waitFor } from '../support';
import { describeWithServices, serviceUrls, uniqueName } from './services';

describeWithServices('commands through Mosquitto', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ MQTT_URL: serviceUrls().mqtt });
  });
  afterAll(() => gw.stop());

  const post = async (deviceId: string, body: object, query = ''): Promise<Command> => {
    const res = await fetch(gw.url + commandsPath(deviceId) + query, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as Command;
  };

  /** A device on the broker that answers every command and says `online` once it listens. */
  async function device(id: string): Promise<{ client: MqttClient; received: CommandDelivery[] }> {
    const client = await mqtt.connectAsync(serviceUrls().mqtt, { clientId: id, reconnectPeriod: 0 });
    const received: CommandDelivery[] = [];
    client.on('message', (_topic, payload) => {
      const cmd = JSON.parse(payload.toString()) as CommandDelivery;
      received.push(cmd);
      void client.publishAsync(
        commandResultTopic(id, cmd.id),
        JSON.stringify({ status: 'succeeded', result: { echo: cmd.params } }),
        { qos: 1 },
      );
    });
    await client.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 });
    await client.publishAsync(statusTopic(id), STATUS_ONLINE, { qos: 1, retain: true });
    return { client, received };
  }

  it('an online device answers on its results topic; one that was away gets the command when it says online', async () => {
    const id = uniqueName('cmd-mosq');
    await gw.deviceToken(id);
    const online = await device(id);
    const done = await post(id, { method: 'setRate', params: { hz: 3 } }, '?wait=5000');
    expect(done).toMatchObject({ status: 'succeeded', result: { echo: { hz: 3 } } });
    await online.client.endAsync();

    // Away: the broker takes the publish (sent) but nobody holds a session for it.
    const away = await post(id, { method: 'later', params: 1, timeoutMs: 20_000 });
    await waitFor(
      async () => ((await gw.get(commandPath(id, away.id))).body as Command).status === 'sent',
      'the command sent to the broker',
    );
    const back = await device(id);
    await waitFor(
      async () => ((await gw.get(commandPath(id, away.id))).body as Command).status === 'succeeded',
      'the command answered after the device came back',
    );
    expect(back.received.map((c) => c.id)).toEqual([away.id]);
    await back.client.publishAsync(statusTopic(id), '', { qos: 1, retain: true });
    await back.client.endAsync();
  });
});

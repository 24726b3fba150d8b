import { ConfigError } from './config-error';
import { loadDevicesConfig } from './devices.config';
import { loadMqttConfig } from './mqtt.config';
import { loadServerConfig } from './server.config';

/** The device and address budgets (docs/security.md#budgets-per-credential): documented defaults, refusals naming the variable. */
describe('budget configuration', () => {
  it('has the documented defaults', () => {
    expect(loadDevicesConfig({})).toMatchObject({
      mqttConnections: 10,
      wsConnections: 10,
      wsReplyBufferBytes: 1024 ** 2,
    });
    expect(loadMqttConfig({}).device).toEqual({
      sessionExpiryS: 3600,
      sessions: 10,
      queueMessages: 1000,
      queueBytes: 4 * 1024 ** 2,
      subscriptions: 100,
      subscribeTopics: 20,
      inflight: 100,
    });
    expect(loadServerConfig({}).http).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5000,
      connectionsPerAddress: 128,
    });
  });

  it('reads sizes with units', () => {
    expect(loadMqttConfig({ MQTT_QUEUE_BYTES: '64k' }).device.queueBytes).toBe(65_536);
    expect(loadDevicesConfig({ WS_REPLY_BUFFER_BYTES: '2m' }).wsReplyBufferBytes).toBe(2 * 1024 ** 2);
  });

  it('refuses a request timeout shorter than the header timeout, and values out of range', () => {
    const refusal = (load: () => unknown): string => {
      try {
        load();
      } catch (err) {
        if (err instanceof ConfigError) return err.message;
        throw err;
      }
      return 'accepted';
    };
    expect(
      refusal(() => loadServerConfig({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' })),
    ).toMatch(/HTTP_REQUEST_TIMEOUT_MS/);
    expect(refusal(() => loadDevicesConfig({ DEVICE_WS_CONNECTIONS: '0' }))).toMatch(/DEVICE_WS_CONNECTIONS/);
    expect(refusal(() => loadMqttConfig({ MQTT_DEVICE_SESSION_EXPIRY: 'soon' }))).toMatch(/MQTT_DEVICE_SESSION_EXPIRY/);
    expect(refusal(() => loadServerConfig({ HTTP_CONNECTIONS_PER_ADDRESS: '0' }))).toMatch(
      /HTTP_CONNECTIONS_PER_ADDRESS/,
    );
  });
});

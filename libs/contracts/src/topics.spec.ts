import { errorsTopic, parseTopic, statusTopic, telemetryTopic } from './topics';

describe('topics', () => {
  it('builds and parses the device topics', () => {
    expect(parseTopic(telemetryTopic('d-1'))).toEqual({ deviceId: 'd-1', kind: 'telemetry', validId: true });
    expect(parseTopic(statusTopic('d-1'))).toEqual({ deviceId: 'd-1', kind: 'status', validId: true });
    expect(parseTopic(errorsTopic('d-1'))).toEqual({ deviceId: 'd-1', kind: 'errors', validId: true });
  });

  it('flags an id that breaks the device id rule', () => {
    expect(parseTopic('devices/bad id!/telemetry')).toEqual({ deviceId: 'bad id!', kind: 'telemetry', validId: false });
  });

  it.each([
    'devices/a/other',
    'devices//telemetry',
    'device/a/telemetry',
    'devices/a/telemetry/x',
    'devices/a',
    'x',
    '',
  ])('returns null for %p', (topic) => {
    expect(parseTopic(topic)).toBeNull();
  });
});

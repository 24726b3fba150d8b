import fc from 'fast-check';
import { isValidDeviceId } from './limits';
import { errorsTopic, parseTopic, statusTopic, telemetryTopic, type TopicKind } from './topics';

const BUILD: Record<TopicKind, (id: string) => string> = {
  telemetry: telemetryTopic,
  status: statusTopic,
  errors: errorsTopic,
};
const deviceId = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const kind = fc.constantFrom<TopicKind>('telemetry', 'status', 'errors');
// Topics made of the pieces the parser looks for, so that near misses are common.
const piece = fc.oneof(
  fc.constantFrom('devices', 'telemetry', 'status', 'errors', '', '+', '#', 'devices/'),
  deviceId,
  fc.string({ maxLength: 8 }),
);
const topicLike = fc.array(piece, { minLength: 1, maxLength: 5 }).map((p) => p.join('/'));

describe('parseTopic (properties)', () => {
  it('round-trips every valid device topic', () => {
    fc.assert(
      fc.property(deviceId, kind, (id, k) => {
        expect(parseTopic(BUILD[k](id))).toEqual({ deviceId: id, kind: k, validId: true });
      }),
    );
  });

  it('never throws; whatever it accepts rebuilds to the same topic, with validId telling the id rule', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), topicLike), (topic) => {
        const t = parseTopic(topic);
        if (t === null) return true;
        return (
          BUILD[t.kind](t.deviceId) === topic &&
          t.validId === isValidDeviceId(t.deviceId) &&
          t.deviceId.length > 0 &&
          !t.deviceId.includes('/')
        );
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses extra levels, other roots and other kinds', () => {
    fc.assert(
      fc.property(deviceId, kind, fc.string({ minLength: 1, maxLength: 10 }), (id, k, extra) => {
        expect(parseTopic(`${BUILD[k](id)}/${extra}`)).toBeNull();
        expect(parseTopic(`x${BUILD[k](id)}`)).toBeNull();
        fc.pre(!['telemetry', 'status', 'errors'].includes(extra));
        expect(parseTopic(`devices/${id}/${extra}`)).toBeNull();
      }),
    );
  });
});

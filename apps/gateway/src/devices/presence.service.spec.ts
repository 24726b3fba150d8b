import type { DeviceSummary } from '@fieldline/contracts';
import { PresenceService } from './presence.service';

describe('PresenceService', () => {
  let now = 1_000_000;
  const events: [string, string[]][] = [];
  const make = () => {
    const p = new PresenceService(1000, 100, () => now);
    p.setListener({
      online: (d: DeviceSummary) => events.push(['online', [d.deviceId]]),
      offline: (d: DeviceSummary) => events.push(['offline', [d.deviceId]]),
      updated: (ds: DeviceSummary[]) => events.push(['updated', ds.map((d) => d.deviceId)]),
    });
    return p;
  };
  beforeEach(() => {
    events.length = 0;
    now = 1_000_000;
  });

  it('goes online on the first reading, batches updates, goes offline after silence', () => {
    const p = make();
    p.seen({ deviceId: 'a', ts: 5, metrics: { t: 1 } }, now);
    p.seen({ deviceId: 'a', ts: 6, metrics: { t: 2, h: 3 } }, now);
    p.seen({ deviceId: 'b', ts: 6, metrics: { t: 2 } }, now);
    expect(events).toEqual([
      ['online', ['a']],
      ['online', ['b']],
    ]);
    p.tick();
    expect(events[2]).toEqual(['updated', ['a']]);
    p.tick();
    expect(events).toHaveLength(3); // nothing changed, nothing sent
    now += 1001;
    p.tick();
    expect(events.slice(3)).toEqual([
      ['offline', ['a']],
      ['offline', ['b']],
    ]);
    expect(p.get('a')).toMatchObject({
      online: false,
      latest: { t: 2, h: 3 },
      metrics: ['h', 't'],
      latestTs: 6,
      lastSeen: 1_000_000,
    });
  });

  it('keeps the latest values when an older reading arrives late', () => {
    const p = make();
    p.seen({ deviceId: 'a', ts: 10, metrics: { t: 10 } }, now);
    p.seen({ deviceId: 'a', ts: 5, metrics: { t: 5, h: 1 } }, now);
    expect(p.get('a')).toMatchObject({ latest: { t: 10 }, latestTs: 10, metrics: ['h', 't'] });
  });

  it('marks a device offline at once when it says so, and seeds known devices offline', () => {
    const p = make();
    p.seed([{ deviceId: 'old', lastTs: 3, latest: { t: 1 }, metrics: ['t'] }]);
    expect(p.get('old')).toMatchObject({ online: false, lastSeen: 3 });
    p.seen({ deviceId: 'a', ts: 1, metrics: { t: 1 } }, now);
    p.markOffline('a');
    p.markOffline('a');
    expect(events).toEqual([
      ['online', ['a']],
      ['offline', ['a']],
    ]);
  });
});

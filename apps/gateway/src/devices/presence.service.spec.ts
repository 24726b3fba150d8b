import type { DeviceSummary } from '@fieldline/contracts';
import { type PresenceDelta, PresenceService } from './presence.service';

describe('PresenceService', () => {
  let now = 1_000_000;
  const events: [string, string[]][] = [];
  const make = () => {
    const p = new PresenceService(
      1000,
      100,
      {
        online: (d: DeviceSummary) => events.push(['online', [d.deviceId]]),
        offline: (d: DeviceSummary) => events.push(['offline', [d.deviceId]]),
        updated: (ds: DeviceSummary[]) => events.push(['updated', ds.map((d) => d.deviceId)]),
      },
      () => now,
    );
    return p;
  };
  beforeEach(() => {
    events.length = 0;
    now = 1_000_000;
  });

  it('keeps the latest value of metrics named like Object.prototype members', () => {
    const p = make();
    const metrics = JSON.parse('{"constructor":1,"toString":2,"valueOf":3,"hasOwnProperty":4}') as Record<
      string,
      number
    >;
    p.seen({ deviceId: 'a', ts: 5, metrics }, now);
    p.seen({ deviceId: 'a', ts: 6, metrics: JSON.parse('{"constructor":10}') as Record<string, number> }, now);
    p.seed([{ deviceId: 'b', lastTs: 4, latest: metrics, metrics: Object.keys(metrics) }]);
    const [a, b] = p.list();
    expect(Object.entries(a.latest).sort()).toEqual(Object.entries({ ...metrics, constructor: 10 }).sort());
    expect(JSON.parse(JSON.stringify(a.latest))).toEqual(JSON.parse(JSON.stringify({ ...metrics, constructor: 10 })));
    expect(Object.entries(b.latest).sort()).toEqual(Object.entries(metrics).sort());
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

describe('PresenceService across nodes (apply and sync)', () => {
  let now = 5_000_000;
  const node = () => {
    const events: [string, string, unknown][] = [];
    const sent: PresenceDelta[][] = [];
    const p = new PresenceService(
      1000,
      100,
      {
        online: (d) => events.push(['online', d.deviceId, d.latest]),
        offline: (d) => events.push(['offline', d.deviceId, d.latest]),
        updated: (ds) => ds.forEach((d) => events.push(['updated', d.deviceId, d.latest])),
      },
      () => now,
      { publish: (ds) => sent.push(ds) },
    );
    return { p, events, sent };
  };
  beforeEach(() => {
    now = 5_000_000;
  });

  it('sends one batch per tick with only the values that changed, and nothing when idle', () => {
    const a = node();
    a.p.seen({ deviceId: 'd', ts: 10, metrics: { t: 1, h: 2 } }, now);
    a.p.seen({ deviceId: 'd', ts: 11, metrics: { t: 3 } }, now + 1);
    a.p.seen({ deviceId: 'd', ts: 5, metrics: { t: 0, x: 9 } }, now + 2); // late: t stays 3, x is new
    a.p.tick();
    expect(a.sent).toHaveLength(1);
    expect(a.sent[0]).toEqual([
      {
        deviceId: 'd',
        lastSeen: now + 2,
        offlineAt: null,
        metrics: expect.arrayContaining([
          ['t', 11, 3],
          ['h', 10, 2],
          ['x', 5, 9],
        ]),
      },
    ]);
    a.p.tick();
    expect(a.sent).toHaveLength(1);
  });

  it('converges: deltas applied in any order, twice, give every node the same view', () => {
    const a = node();
    const b = node();
    const c = node();
    a.p.seen({ deviceId: 'd', ts: 10, metrics: { t: 1, h: 2 } }, now);
    b.p.seen({ deviceId: 'd', ts: 12, metrics: { t: 5 } }, now + 5);
    a.p.tick();
    b.p.tick();
    const [da, db] = [a.sent[0], b.sent[0]];
    a.p.apply(db);
    b.p.apply(da);
    c.p.apply(db);
    c.p.apply(da);
    c.p.apply(db);
    const views = [a, b, c].map((n) => n.p.get('d'));
    for (const v of views) expect(v).toEqual(views[0]);
    expect(views[0]).toMatchObject({ online: true, lastSeen: now + 5, latestTs: 12, latest: { t: 5, h: 2 } });
    // c learnt of the device from others: its clients were told it is online.
    expect(c.events[0]).toEqual(['online', 'd', expect.anything()]);
  });

  it('goes offline everywhere when the device says so on any node, and online again when it sends later', () => {
    const a = node();
    const b = node();
    a.p.seen({ deviceId: 'd', ts: 10, metrics: { t: 1 } }, now);
    a.p.tick();
    b.p.apply(a.sent[0]);
    now += 10;
    b.p.markOffline('d');
    b.p.tick();
    expect(b.events.map((e) => e[0])).toEqual(['online', 'offline']);
    a.p.apply(b.sent[0]);
    expect(a.p.get('d')!.online).toBe(false);
    expect(a.events.map((e) => e[0])).toEqual(['online', 'offline']);
    now += 10;
    a.p.seen({ deviceId: 'd', ts: 20, metrics: { t: 2 } }, now);
    a.p.tick();
    b.p.apply(a.sent[1]);
    expect(b.p.get('d')).toMatchObject({ online: true, latest: { t: 2 } });
  });

  it('passes on an offline for a device it never saw, and shows nothing for it', () => {
    const a = node();
    const b = node();
    b.p.seen({ deviceId: 'd', ts: 10, metrics: { t: 1 } }, now);
    a.p.markOffline('d', now + 1);
    a.p.tick();
    expect(a.p.get('d')).toBeUndefined();
    expect(a.sent[0]).toEqual([{ deviceId: 'd', lastSeen: null, offlineAt: now + 1, metrics: [] }]);
    b.p.apply(a.sent[0]);
    expect(b.p.get('d')!.online).toBe(false);
  });

  it('shows a device whose last reading is older than the offline delay as offline when it learns of it', () => {
    const a = node();
    a.p.apply([{ deviceId: 'old', lastSeen: now - 5000, offlineAt: null, metrics: [['t', 1, 7]] }]);
    expect(a.p.get('old')).toMatchObject({ online: false, latest: { t: 7 } });
    expect(a.events).toEqual([]);
  });

  it("restores saved last-seen times over the store's seed: the newer one wins", () => {
    const p = new PresenceService(1000, 100, null, () => now);
    p.seed([
      { deviceId: 'a', lastTs: 100, latest: { t: 1 }, metrics: ['t'] },
      { deviceId: 'b', lastTs: 900, latest: { t: 2 }, metrics: ['t'] },
    ]);
    p.restoreLastSeen(
      new Map([
        ['a', 500],
        ['b', 400],
        ['c', 300],
      ]),
    );
    expect(p.list().map((d) => [d.deviceId, d.lastSeen, d.online])).toEqual([
      ['a', 500, false],
      ['b', 900, false],
      ['c', 300, false],
    ]);
    expect(p.get('a')).toMatchObject({ latestTs: 100, latest: { t: 1 } });
    const changes = p.changes;
    p.seen({ deviceId: 'a', ts: 7, metrics: { t: 3 } }, now);
    expect(p.changes).toBeGreaterThan(changes);
    expect(p.lastSeenTimes()).toEqual(
      new Map([
        ['a', now],
        ['b', 900],
        ['c', 300],
      ]),
    );
  });
});

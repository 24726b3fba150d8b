import { type Alarm, type AlarmEventPayload, type AlarmRuleSpec, AlarmRuleInputSchema } from '@fieldline/contracts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StateStore } from '../state/state.store';
import { WebhookOutbox } from './alarm.outbox';
import { AlarmService } from './alarm.service';

const quiet = { warn: () => undefined };

/** A rule spec: `above 80` (warning) on metric `t` of device `d1`, `for` 1 s, clear 1 s with hysteresis 5. */
export function spec(overrides: Record<string, unknown> = {}): AlarmRuleSpec {
  const { id: _id, ...s } = AlarmRuleInputSchema.parse({
    name: 'hot',
    devices: 'd1',
    metric: 't',
    condition: { kind: 'above', levels: [{ severity: 'warning', threshold: 80 }] },
    forMs: 1000,
    clear: { hysteresis: 5, forMs: 1000 },
    ...overrides,
  });
  return s;
}

/** A service over `store` on a clock the test moves. */
export function service(store: StateStore, clock: { now: number }, webhookUrl: string | null = null): AlarmService {
  const options = { tickMs: 60_000, latenessMs: 60_000, refreshMs: 60_000, webhookUrl };
  return new AlarmService(store, options, quiet, () => clock.now);
}

const reading = (ts: number, t: number) => ({ deviceId: 'd1', ts, metrics: { t } });

/**
 * What the alarm tables and the service must do on every engine (SQLite here, PostgreSQL in the services project):
 * one open alarm per rule and device enforced by the store, the lifecycle with who and when, restart.
 */
export function describeAlarmStoreContract(engine: string, open: () => Promise<StateStore>): void {
  describe(`alarms over the ${engine} state store`, () => {
    let store: StateStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(() => store.close());

    const row = (id: string, state: string): Record<string, unknown> => ({
      alarm_id: id,
      rule_id: 'r',
      rule_version: 1,
      device_id: 'd1',
      metric: 't',
      state,
      severity: 'major',
      reason: 'threshold',
      value: 1,
      message: '',
      pending_at: 1,
      seq: 0,
    });

    it('refuses a second open alarm for one rule and device; a cleared one does not count', async () => {
      await store.db
        .insertInto('alarms')
        .values(row('a1', 'active') as never)
        .execute();
      const second = await store.db
        .insertInto('alarms')
        .values(row('a2', 'pending') as never)
        .execute()
        .then(
          () => 'inserted',
          (err: Error) => err.message,
        );
      expect(second).toMatch(/unique|duplicate/i);
      await store.db.updateTable('alarms').set({ state: 'cleared' }).where('alarm_id', '=', 'a1').execute();
      await store.db
        .insertInto('alarms')
        .values(row('a2', 'pending') as never)
        .execute();
      expect(await store.db.selectFrom('alarms').select('alarm_id').orderBy('alarm_id').execute()).toHaveLength(2);
    });

    it('versions rules: every edit a row, the current one served, a delete a version of its own', async () => {
      const clock = { now: 1000 };
      const s = service(store, clock);
      await s.start();
      await s.createRule('r1', spec(), 'ann');
      clock.now = 2000;
      await s.updateRule('r1', spec({ forMs: 5 }), 'bob');
      expect(await s.store.rule('r1')).toMatchObject({ version: 2, forMs: 5, updatedBy: 'bob', updatedAt: 2000 });
      expect(await s.deleteRule('r1', 'ann')).toBe(true);
      expect(await s.store.rule('r1')).toBeUndefined();
      expect((await s.store.versions('r1')).map((r) => [r.version, r.enabled])).toEqual([
        [1, true],
        [2, true],
        [3, false],
      ]);
      await expect(s.updateRule('r1', spec(), 'ann')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await s.createRule('r1', spec(), 'ann'); // a deleted rule's id may be taken again: version 4
      expect((await s.store.rule('r1'))?.version).toBe(4);
      await s.stop();
    });

    it('runs the lifecycle with who and when, and a new occurrence after clearing opens a new alarm', async () => {
      const clock = { now: 10_000 };
      const s = service(store, clock);
      const seen: AlarmEventPayload[] = [];
      s.onChange((c) => seen.push(c));
      await s.start();
      await s.createRule('r1', spec(), 'ann');
      s.observe(reading(10_000, 90), 10_000);
      await s.settled();
      expect((await s.list({ state: 'pending', limit: 10 })).map((a) => a.state)).toEqual(['pending']);
      s.observe(reading(11_000, 90), 11_000);
      await s.settled();
      const [raised] = await s.list({ state: 'open', limit: 10 });
      expect(raised).toMatchObject({ state: 'active', raisedAt: 11_000, pendingAt: 10_000, value: 90 });
      await expect(s.acknowledge('nope', 'bob')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      clock.now = 12_000;
      await s.comment(raised.id, 'bob', 'looking');
      await s.shelve(raised.id, 99_000, 'bob');
      const acked = await s.acknowledge(raised.id, 'bob', 'mine');
      expect(acked).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'bob', acknowledgedAt: 12_000 });
      expect(s.openBySeverity().get('warning')).toBe(1);
      s.observe(reading(13_000, 70), 13_000);
      s.observe(reading(14_000, 70), 14_000);
      await s.settled();
      expect((await s.store.alarm(raised.id))?.state).toBe('closed');
      expect(s.openBySeverity().get('warning')).toBe(0);
      const detail = await s.detail(raised.id);
      expect(detail?.history.map((h) => [h.action, h.actor, h.comment ?? null])).toEqual([
        ['raised', null, null],
        ['commented', 'bob', 'looking'],
        ['shelved', 'bob', null],
        ['acknowledged', 'bob', 'mine'],
        ['cleared', null, null],
      ]);
      expect(seen.map((c) => c.event)).toEqual(['raised', 'updated', 'updated', 'updated', 'cleared']);
      expect(seen.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5]);
      expect((await s.store.changesSince(3, 10)).changes.map((c) => c.seq)).toEqual([4, 5]);
      expect(await s.store.changesSince(0, 2)).toMatchObject({ truncated: true });

      s.observe(reading(20_000, 90), 20_000);
      s.observe(reading(21_000, 90), 21_000);
      await s.settled();
      const all = await s.list({ limit: 10 });
      expect(all.map((a: Alarm) => a.state)).toEqual(['active', 'closed']);
      expect(all[0].id).not.toBe(raised.id);
      // Filters: severity at or above, device, time.
      expect(await s.list({ severity: 'major', limit: 10 })).toEqual([]);
      expect(await s.list({ device: 'd2', limit: 10 })).toEqual([]);
      expect((await s.list({ from: 15_000, limit: 10 })).map((a) => a.id)).toEqual([all[0].id]);
      await s.stop();
    });

    it('a manual clear closes the alarm and the rule raises anew while the condition holds', async () => {
      const clock = { now: 0 };
      const s = service(store, clock);
      await s.start();
      await s.createRule('r1', spec({ forMs: 0 }), 'ann');
      s.observe(reading(0, 90), 0);
      await s.settled();
      const [first] = await s.list({ state: 'open', limit: 5 });
      expect((await s.clear(first.id, 'bob')).state).toBe('closed');
      await expect(s.clear(first.id, 'bob')).rejects.toMatchObject({ code: 'CONFLICT' });
      s.observe(reading(1000, 90), 1000);
      await s.settled();
      const open = await s.list({ state: 'open', limit: 5 });
      expect(open).toHaveLength(1);
      expect(open[0].id).not.toBe(first.id);
      await s.stop();
    });

    it('resumes after a restart: a pending alarm fires once when due; a deleted rule closes its alarm', async () => {
      const clock = { now: 100_000 };
      let s = service(store, clock);
      await s.start();
      await s.createRule('r1', spec({ forMs: 10_000 }), 'ann');
      s.observe(reading(100_000, 90), 100_000);
      await s.stop();

      clock.now = 105_000;
      s = service(store, clock);
      await s.start();
      await s.settled();
      expect(await s.list({ state: 'active', limit: 5 })).toEqual([]);
      clock.now = 110_000;
      s.evaluator.tick(clock.now);
      s.evaluator.tick(clock.now + 1000);
      await s.settled();
      const active = await s.list({ state: 'active', limit: 5 });
      expect(active).toHaveLength(1);
      expect(active[0].raisedAt).toBe(110_000);
      await s.stop();

      // Down past the due time: fired at start, once; a third start fires nothing.
      clock.now = 200_000;
      s = service(store, clock);
      await s.start();
      await s.settled();
      expect((await s.list({ limit: 5 })).map((a) => a.state)).toEqual(['active']);
      expect(await s.store.lastSeq()).toBe(1);
      await s.deleteRule('r1', 'ann');
      await s.settled();
      expect((await s.list({ limit: 5 })).map((a) => a.state)).toEqual(['closed']);
      expect(await s.store.evalStates()).toEqual([]);
      await s.stop();
    });

    it('a slot that starts over on a raised alarm (state lost) carries on with it: no second raise', async () => {
      const clock = { now: 0 };
      let s = service(store, clock);
      const seen: string[] = [];
      await s.start();
      await s.createRule('r1', spec({ forMs: 0 }), 'ann');
      s.observe(reading(0, 90), 0);
      await s.stop();
      await store.db.deleteFrom('alarm_eval_state').execute();
      s = service(store, clock);
      s.onChange((c) => seen.push(c.event));
      await s.start();
      s.observe(reading(1000, 90), 1000);
      await s.settled();
      expect(seen).toEqual([]);
      expect((await s.list({ limit: 5 })).map((a) => a.state)).toEqual(['active']);
      s.observe(reading(2000, 10), 2000);
      s.observe(reading(3000, 10), 3000);
      await s.settled();
      expect(seen).toEqual(['cleared']);
      await s.stop();
    });

    it('keeps notices in the outbox until a receiver takes them, across a restart, with back-off', async () => {
      const clock = { now: 50_000 };
      const bodies: string[] = [];
      const receiver = createServer((req, res) => {
        let b = '';
        req.on('data', (c: Buffer) => (b += c.toString()));
        req.on('end', () => {
          bodies.push(b);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      const port = (receiver.address() as AddressInfo).port;
      const s = service(store, clock, 'http://unused');
      await s.start();
      await s.createRule('r1', spec({ forMs: 0, clear: { hysteresis: 0, forMs: 0 } }), 'ann');
      s.observe(reading(50_000, 90), 50_000);
      s.observe(reading(51_000, 10), 51_000);
      await s.stop();
      // Nobody listens at first: both notices fail and wait their back-off.
      const down = new WebhookOutbox(
        store,
        { url: 'http://127.0.0.1:1/', secret: 'k', tickMs: 60_000 },
        quiet,
        () => clock.now,
      );
      await down.deliverDue();
      expect(down.failures).toBe(2);
      const url = `http://127.0.0.1:${port}/`;
      const early = new WebhookOutbox(store, { url, secret: 'k', tickMs: 60_000 }, quiet, () => clock.now);
      await early.deliverDue();
      expect(await early.pending()).toBeGreaterThan(0); // not due yet: nothing sent before its back-off
      clock.now += 10 * 60_000;
      const up = new WebhookOutbox(store, { url, secret: 'k', tickMs: 60_000 }, quiet, () => clock.now);
      await up.deliverDue();
      receiver.close();
      expect(bodies.map((b) => (JSON.parse(b) as { status: string }).status)).toEqual(['firing', 'resolved']);
      expect(await up.pending()).toBe(0);
    });

    it('two services on one store (two nodes) keep one open alarm per rule and device', async () => {
      const clock = { now: 0 };
      const a = service(store, clock);
      const b = service(store, clock);
      await a.start();
      await a.createRule('r1', spec({ forMs: 0 }), 'ann');
      await b.start();
      a.observe(reading(0, 90), 0);
      b.observe(reading(0, 90), 0);
      await Promise.all([a.settled(), b.settled()]);
      expect(await a.list({ state: 'open', limit: 5 })).toHaveLength(1);
      await a.stop();
      await b.stop();
    });
  });
}

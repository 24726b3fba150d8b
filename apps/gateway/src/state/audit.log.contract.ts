import { AUDIT_FIELD_MAX, AuditAction, parseAuditParams, type AuditParams } from '@fieldline/contracts';
import { AuditLog } from './audit.log';
import type { StateStore } from './state.store';

export interface AuditFixture {
  /** A new instance on the fixture's database, migrated. */
  open(): Promise<StateStore>;
  cleanup(): Promise<void>;
}

/*
 * The audit log over one engine: what an entry keeps, the filters and paging of GET /api/audit, entries that commit
 * or roll back with the change they record, retention on a fake clock, and what happens under a flood or an outage.
 */

const DAY = 86_400_000;

export function describeAuditLog(name: string, make: () => Promise<AuditFixture>): void {
  describe(`AuditLog (${name})`, () => {
    let f: AuditFixture;
    let store: StateStore;
    let clock: number;
    let audit: AuditLog;
    const errors: string[] = [];
    const open = (s: StateStore, retentionMs = 30 * DAY): AuditLog =>
      new AuditLog(s, { retentionMs, now: () => clock, log: { error: (m) => errors.push(m) } });
    const page = (p: AuditParams) => audit.query(parseAuditParams(p));
    beforeEach(async () => {
      f = await make();
      store = await f.open();
      clock = 1_750_000_000_000;
      audit = open(store);
      errors.length = 0;
    });
    afterEach(async () => {
      await audit.close();
      await store.close();
      await f.cleanup();
    });

    it('keeps who, when, from where, what and the outcome; newest first', async () => {
      await audit.record({ actor: 'ada', action: AuditAction.login, from: '10.0.0.7', ok: true, details: { r: 1 } });
      clock += 10;
      await audit.record({ actor: 'mallory', action: AuditAction.login, from: '10.0.0.9', ok: false });
      const { entries, nextCursor } = await page({});
      expect(nextCursor).toBeNull();
      expect(entries.map(({ id: _id, ...e }) => e)).toEqual([
        {
          at: clock,
          actor: 'mallory',
          action: 'auth.login',
          target: null,
          from: '10.0.0.9',
          ok: false,
          details: null,
        },
        {
          at: clock - 10,
          actor: 'ada',
          action: 'auth.login',
          target: null,
          from: '10.0.0.7',
          ok: true,
          details: { r: 1 },
        },
      ]);
    });

    it('escapes control and bidi characters and bounds the length of what a caller chose', async () => {
      const forged = 'bob\n2026-01-01 auth.login ok admin\u202e' + 'x'.repeat(500);
      await audit.record({ actor: forged, action: AuditAction.login, ok: false });
      const [e] = (await page({})).entries;
      expect(e.actor!.length).toBe(AUDIT_FIELD_MAX);
      expect(e.actor!.startsWith('bob\\u000a2026-01-01 auth.login ok admin\\u202exxx')).toBe(true);
      expect(e.actor).not.toMatch(/[\n\u202e]/);
      expect(e.actor!.endsWith('…')).toBe(true);
    });

    it('filters by time, actor, action prefix, target and outcome, and pages without gaps or repeats', async () => {
      const actions = [AuditAction.login, AuditAction.deviceRegister, AuditAction.tokenRotate, AuditAction.deviceMeta];
      for (let i = 0; i < 40; i++) {
        // Several entries share a millisecond: the id breaks the tie, the cursor carries both.
        if (i % 3 === 0) clock += 1;
        await audit.record({
          actor: i % 2 ? 'ada' : 'bob',
          action: actions[i % 4],
          target: `d${i % 5}`,
          ok: i % 7 !== 0,
        });
      }
      const all = (await page({ limit: '500' })).entries;
      expect(all).toHaveLength(40);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let n = 0; n < 10; n++) {
        const p = await page({ limit: '7', ...(cursor ? { cursor } : {}) });
        seen.push(...p.entries.map((e) => e.id));
        if (!p.nextCursor) break;
        cursor = p.nextCursor;
      }
      expect(seen).toEqual(all.map((e) => e.id));
      const sorted = [...all].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1));
      expect(all.map((e) => e.id)).toEqual(sorted.map((e) => e.id));

      const device = (await page({ action: 'device.', limit: '500' })).entries;
      expect(device.map((e) => e.action).sort()).toEqual([
        ...Array<string>(10).fill('device.meta'),
        ...Array<string>(10).fill('device.register'),
      ]);
      // `_` and `%` mean themselves in a prefix; a prefix is case-sensitive.
      expect((await page({ action: 'device%' })).entries).toEqual([]);
      expect((await page({ action: 'Device.' })).entries).toEqual([]);
      const ada = await page({ actor: 'ada', target: 'd1', ok: 'true', limit: '500' });
      expect(ada.entries.length).toBeGreaterThan(0);
      expect(ada.entries.every((e) => e.actor === 'ada' && e.target === 'd1' && e.ok)).toBe(true);
      expect(ada.entries).toEqual(all.filter((e) => e.actor === 'ada' && e.target === 'd1' && e.ok));
      const refused = (await page({ ok: 'false', limit: '500' })).entries;
      expect(refused.map((e) => e.id)).toEqual(all.filter((e) => !e.ok).map((e) => e.id));
      const mid = all[20].at;
      const window = (await page({ from: String(mid - 2), to: String(mid + 1), limit: '500' })).entries;
      expect(window).toEqual(all.filter((e) => e.at >= mid - 2 && e.at < mid + 1));
    });

    it('writes an entry in the transaction of its change: rolled back with it, never without it', async () => {
      const entry = { actor: 'ada', action: AuditAction.deviceRegister, target: 'p1', ok: true };
      const device = { created_at: 1, tags: '{}', updated_at: 1 };
      await store.transaction(async (trx) => {
        await trx
          .insertInto('devices')
          .values({ device_id: 'p1', ...device })
          .execute();
        await audit.recordIn(trx, entry);
      });
      await expect(
        store.transaction(async (trx) => {
          await trx
            .insertInto('devices')
            .values({ device_id: 'p2', ...device })
            .execute();
          await audit.recordIn(trx, { ...entry, target: 'p2' });
          throw new Error('the change fails after its entry');
        }),
      ).rejects.toThrow('the change fails after its entry');
      // A failing audit write takes the change down with it.
      let message = '';
      try {
        await store.transaction(async (trx) => {
          await trx
            .insertInto('devices')
            .values({ device_id: 'p3', ...device })
            .execute();
          await audit.recordIn(trx, { ...entry, target: 'p3', action: null as unknown as string });
        });
      } catch (err) {
        message = String(err);
      }
      expect(message).toMatch(/null/i);
      expect((await page({})).entries.map((e) => e.target)).toEqual(['p1']);
      const devices = await store.db.selectFrom('devices').select('device_id').execute();
      expect(devices).toEqual([{ device_id: 'p1' }]);
    });

    it('purges entries past the retention on a fake clock, idempotently, also from two nodes at once', async () => {
      await audit.record({ actor: 'old', action: AuditAction.login, ok: true });
      clock += 20 * DAY;
      await audit.record({ actor: 'mid', action: AuditAction.login, ok: true });
      clock += 10 * DAY + 1;
      const other = open(await f.open());
      try {
        expect((await Promise.all([audit.purge(), other.purge()])).sort()).toEqual([0, 1]);
        expect(await audit.purge()).toBe(0);
        expect((await page({})).entries.map((e) => e.actor)).toEqual(['mid']);
      } finally {
        await other.close();
      }
    });

    it('purges periodically once started, until closed', async () => {
      const periodic = new AuditLog(store, { retentionMs: DAY, purgeEveryMs: 20, now: () => clock });
      await periodic.record({ actor: 'a', action: AuditAction.login, ok: true });
      periodic.start();
      clock += DAY + 1;
      for (let i = 0; i < 200 && (await page({})).entries.length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await page({})).entries).toEqual([]);
      await periodic.close();
      await periodic.record({ actor: 'b', action: AuditAction.login, ok: true });
      clock += 2 * DAY;
      await new Promise((r) => setTimeout(r, 100));
      expect((await page({})).entries.map((e) => e.actor)).toEqual(['b']);
    });

    it('under a flood of refusals drops the excess (counted) but never a change', async () => {
      const flood = Array.from({ length: 6000 }, (_, i) =>
        audit.record({ actor: `guess${i}`, action: AuditAction.login, ok: false }),
      );
      const change = audit.record({ actor: 'ada', action: AuditAction.unlock, target: 'bob', ok: true });
      await Promise.all([...flood, change]);
      expect(audit.counts.dropped).toBe(1000);
      expect(audit.counts.recorded).toBe(5001);
      expect((await page({ action: AuditAction.unlock })).entries.map((e) => e.target)).toEqual(['bob']);
      expect((await page({ ok: 'false', limit: '500' })).nextCursor).not.toBeNull();
    });

    it('logs an entry it cannot store rather than failing the action it records', async () => {
      const closed = await f.open();
      const lost = open(closed);
      await closed.close();
      await expect(lost.record({ actor: 'ada', action: AuditAction.login, ok: true })).resolves.toBeUndefined();
      expect(lost.counts.failed).toBe(1);
      expect(errors).toEqual(['audit log: entry not stored']);
    });
  });
}

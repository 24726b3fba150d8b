import type { StateStore } from '../state/state.store';
import { OperatorStore } from './operator.store';

/** Opens a migrated, empty state store; `cleanup` removes what the suite made. */
export interface OperatorStoreHarness {
  open(): Promise<StateStore>;
  cleanup(): Promise<void>;
}

const TTL = 60_000;

/** The operator repository over one engine: the same suite runs on SQLite (unit) and PostgreSQL (services). */
export function describeOperatorStore(engine: string, harness: () => Promise<OperatorStoreHarness>): void {
  describe(`OperatorStore (${engine})`, () => {
    let h: OperatorStoreHarness;
    let state: StateStore;
    let now = 1_000_000;
    let store: OperatorStore;
    beforeAll(async () => {
      h = await harness();
      state = await h.open();
      store = new OperatorStore(state, () => now);
    });
    afterAll(async () => {
      await state.close();
      await h.cleanup();
    });
    beforeEach(async () => {
      await state.db.deleteFrom('sessions').execute();
      await state.db.deleteFrom('users').execute();
    });
    const add = async (username: string, role: 'viewer' | 'operator' | 'admin' = 'viewer') =>
      (await store.create({ username, role, passwordHash: `hash-${username}` }))!;

    it('adds users once per name, finds and lists them in name order', async () => {
      const bob = await add('bob', 'operator');
      expect(bob).toMatchObject({ username: 'bob', role: 'operator', passwordHash: 'hash-bob', disabledAt: null });
      expect(bob.createdAt).toBe(now);
      expect(await store.create({ username: 'bob', role: 'admin', passwordHash: 'other' })).toBeNull();
      await add('alice');
      expect((await store.list()).map((u) => [u.username, u.role])).toEqual([
        ['alice', 'viewer'],
        ['bob', 'operator'],
      ]);
      expect(await store.find('nobody')).toBeNull();
    });

    it('changes role, disables and enables; a disabled user loses its sessions', async () => {
      const u = await add('carol');
      const s = await store.openSession(u, TTL);
      now += 10;
      expect(await store.update('carol', { role: 'admin' })).toMatchObject({ role: 'admin', updatedAt: now });
      expect(await store.openSessions('carol')).toBe(1);
      const disabled = await store.update('carol', { disabled: true });
      expect(disabled?.disabledAt).toBe(now);
      expect(await store.openSessions('carol')).toBe(0);
      expect(await store.rotate(s.token, TTL)).toEqual({ kind: 'invalid' });
      expect((await store.update('carol', { disabled: false }))?.disabledAt).toBeNull();
      expect(await store.update('nobody', { role: 'viewer' })).toBeNull();
    });

    it('rotates a refresh token once; the spent one coming back revokes the whole family', async () => {
      const u = await add('dave');
      const first = await store.openSession(u, TTL, { userAgent: 'jest', address: '10.0.0.1' });
      const other = await store.openSession(u, TTL);
      const second = await store.rotate(first.token, TTL);
      expect(second).toMatchObject({ kind: 'rotated', user: { username: 'dave' } });
      if (second.kind !== 'rotated') throw new Error('not rotated');
      expect(second.refresh.familyId).toBe(first.familyId);
      expect(second.refresh.token).not.toBe(first.token);
      expect(await store.rotate(first.token, TTL)).toMatchObject({ kind: 'reused', familyId: first.familyId });
      expect(await store.rotate(second.refresh.token, TTL)).toEqual({ kind: 'invalid' });
      expect(await store.sessionOpen(first.familyId)).toBe(false);
      // Another login of the same user is another family: untouched.
      expect(await store.sessionOpen(other.familyId)).toBe(true);
      expect(await store.rotate('never-issued', TTL)).toEqual({ kind: 'invalid' });
    });

    it('two refreshes racing with one token: one wins, the other counts as reuse', async () => {
      const u = await add('erin');
      const s = await store.openSession(u, TTL);
      const results = await Promise.all([store.rotate(s.token, TTL), store.rotate(s.token, TTL)]);
      expect(results.map((r) => r.kind).sort()).toEqual(['reused', 'rotated']);
      expect(await store.sessionOpen(s.familyId)).toBe(false);
    });

    it('refuses an expired refresh token, and prunes expired sessions', async () => {
      const u = await add('fay');
      const s = await store.openSession(u, TTL);
      now += TTL + 1;
      expect(await store.rotate(s.token, TTL)).toEqual({ kind: 'invalid' });
      expect(await store.pruneSessions(now)).toBe(1);
    });

    it('logout revokes the family; a password change ends every session', async () => {
      const u = await add('gus');
      const a = await store.openSession(u, TTL);
      const b = await store.openSession(u, TTL);
      expect(await store.revoke(a.token)).toMatchObject({ user: { username: 'gus' }, familyId: a.familyId });
      expect(await store.revoke('unknown')).toBeNull();
      expect(await store.sessionOpen(a.familyId)).toBe(false);
      expect(await store.sessionOpen(b.familyId)).toBe(true);
      now += 1000;
      const changed = await store.update('gus', { passwordHash: 'new-hash' });
      expect(changed).toMatchObject({ passwordHash: 'new-hash', passwordChangedAt: now });
      expect(await store.sessionOpen(b.familyId)).toBe(false);
    });

    it('removing a user removes its sessions', async () => {
      const u = await add('hal');
      await store.openSession(u, TTL);
      expect(await store.delete('hal')).toBe(true);
      expect(await store.delete('hal')).toBe(false);
      expect(await state.db.selectFrom('sessions').selectAll().execute()).toEqual([]);
    });
  });
}

import type { StateStore } from '../state/state.store';
import { CommandsRepository, type StoredCommand } from './commands.repository';

/**
 * The command queries on one engine: run on SQLite (commands.repository.spec.ts) and PostgreSQL
 * (test/services/commands-repository.spec.ts), so that the one SQL means the same on both.
 */
export function describeCommandsRepositoryContract(engine: string, open: () => Promise<StateStore>): void {
  describe(`CommandsRepository on ${engine}`, () => {
    let store: StateStore;
    let repo: CommandsRepository;
    beforeAll(async () => {
      store = await open();
      await store.migrate();
      repo = new CommandsRepository(store.db);
    });
    afterAll(() => store.close());

    const command = (id: string, seq: number, over: Partial<StoredCommand> = {}): StoredCommand => ({
      id,
      deviceId: 'dev-1',
      seq,
      method: 'm',
      params: { a: [1, 'x'] },
      oneWay: false,
      persistent: true,
      timeoutMs: 1000,
      retries: 2,
      attempts: 0,
      expiresAt: 10_000_000_000_000,
      idempotencyKey: null,
      collapseKey: null,
      status: 'queued',
      result: null,
      error: null,
      createdBy: 'admin',
      createdAt: 1_700_000_000_000,
      sentAt: null,
      deliveredAt: null,
      completedAt: null,
      deadline: null,
      updatedAt: 1_700_000_000_000,
      ...over,
    });

    it('round-trips every field, numbers as numbers and JSON as JSON', async () => {
      const c = command('rt-1', await repo.transaction((trx) => repo.nextSeq('dev-1', trx)), { idempotencyKey: 'k1' });
      expect(c.seq).toBe(1);
      await repo.insert(c);
      expect(await repo.get('rt-1')).toEqual(c);
      expect(await repo.byIdempotencyKey('dev-1', 'k1')).toEqual(c);
      expect(await repo.transaction((trx) => repo.nextSeq('dev-1', trx))).toBe(2);
      expect(await repo.countOpen('dev-1')).toBe(1);
    });

    it('keeps idempotency keys unique per device; commands without a key never collide', async () => {
      await repo.insert(command('ik-1', 10, { idempotencyKey: 'same' }));
      await repo.insert(command('ik-2', 11, { idempotencyKey: 'same', deviceId: 'dev-2' }));
      let dup: unknown = null;
      try {
        await repo.insert(command('ik-3', 12, { idempotencyKey: 'same' }));
      } catch (err) {
        dup = err;
      }
      expect(String((dup as { message?: unknown } | null)?.message)).toMatch(/unique|duplicate key/i);
      await repo.insert(command('nk-1', 13));
      await repo.insert(command('nk-2', 14));
    });

    it('applies a change only from the status it was computed from', async () => {
      await repo.insert(command('cas-1', 20));
      const sent = { status: 'sent' as const, attempts: 1, sentAt: 5, deadline: 1005, updatedAt: 5 };
      expect(await repo.apply('cas-1', 'queued', sent)).toBe(true);
      expect(await repo.apply('cas-1', 'queued', sent)).toBe(false);
      const done = { status: 'succeeded' as const, result: { ok: true }, completedAt: 9, deadline: null, updatedAt: 9 };
      expect(await repo.apply('cas-1', 'sent', done)).toBe(true);
      expect(await repo.get('cas-1')).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        result: { ok: true },
        deadline: null,
      });
    });

    it('finds what fell due, in posting order, and lists newest first', async () => {
      await repo.insert(command('due-2', 31, { deviceId: 'dev-3', status: 'sent', deadline: 100 }));
      await repo.insert(command('due-1', 30, { deviceId: 'dev-3', status: 'delivered', deadline: 50 }));
      await repo.insert(command('due-x', 32, { deviceId: 'dev-3', status: 'sent', deadline: 10_000 }));
      await repo.insert(command('exp-1', 33, { deviceId: 'dev-3', expiresAt: 200 }));
      const { timedOut, expired } = await repo.due(500);
      expect(timedOut.map((c) => c.id)).toEqual(['due-1', 'due-2']);
      expect(expired.map((c) => c.id)).toEqual(['exp-1']);
      expect((await repo.ofDevice('dev-3', ['sent', 'delivered'])).map((c) => c.id)).toEqual([
        'due-1',
        'due-2',
        'due-x',
      ]);
      expect((await repo.list('dev-3', undefined, 2)).map((c) => c.id)).toEqual(['exp-1', 'due-x']);
      expect((await repo.list('dev-3', 'queued', 10)).map((c) => c.id)).toEqual(['exp-1']);
      expect(await repo.devicesWithQueue()).toEqual(expect.arrayContaining(['dev-1', 'dev-3']));
    });
  });
}

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { SLOW_MIGRATION } from './state-store.contract.child';
import { MIGRATIONS, MIGRATION_TABLE } from './state.migrations';
import type { StateStore } from './state.store';

/*
 * The behaviour every StateStore engine promises, run against each (SQLite in a temp dir, PostgreSQL started by the
 * services project): migrations under a lock, transactions, value types, several instances on one database.
 */

export interface StateStoreFixture {
  /**
   * A new instance on the fixture's database, not migrated yet. SQLite instances in one process take turns (a busy
   * better-sqlite3 connection blocks the thread that holds the lock): concurrency across nodes runs in processes.
   */
  open(): StateStore;
  /** The environment that points a child process at the same database (DATABASE_URL or STATE_FILE). */
  env: Record<string, string>;
  /** Drops the database. */
  cleanup(): Promise<void>;
}

const device = (id: string, at = 1_700_000_000_000) => ({
  device_id: id,
  name: null,
  token_hash: `h-${id}`,
  created_at: at,
  token_issued_at: at,
  rotated_at: null,
  revoked_at: null,
  site: null,
  model: null,
  tags: '{}',
  updated_at: at,
});

/** Runs state-store.contract.child.ts in `n` processes at once; resolves what each applied. */
function migrateInProcesses(env: Record<string, string>, n: number): Promise<string[][]> {
  // All start their migration at the same moment, well after the slowest process is up.
  const at = String(Date.now() + 8000);
  const run = () =>
    new Promise<string[]>((resolve, reject) =>
      execFile(
        process.execPath,
        [require.resolve('tsx/cli'), join(__dirname, 'state-store.contract.child.ts')],
        { env: { ...process.env, ...env, FIELDLINE_MIGRATE_AT: at }, timeout: 120_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as string[]),
      ),
    );
  return Promise.all(Array.from({ length: n }, run));
}

export function describeStateStoreContract(name: string, make: () => Promise<StateStoreFixture>): void {
  describe(`StateStore contract: ${name}`, () => {
    let f: StateStoreFixture;
    const opened: StateStore[] = [];
    const open = (): StateStore => {
      const s = f.open();
      opened.push(s);
      return s;
    };
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await f.cleanup();
    });

    it('applies every migration once, in order; the next start applies none', async () => {
      const store = open();
      expect(await store.migrate()).toEqual(Object.keys(MIGRATIONS).sort());
      expect(await store.migrate()).toEqual([]);
      expect(await open().migrate()).toEqual([]);
      const rows = await store.db
        .selectFrom(MIGRATION_TABLE as 'devices')
        .select('name' as 'device_id')
        .execute();
      expect(rows.length).toBe(Object.keys(MIGRATIONS).length);
    });

    it('three nodes (processes) migrating one new database at once: all succeed, the schema is applied once', async () => {
      const applied = await migrateInProcesses(f.env, 3);
      expect(applied.flat().sort()).toEqual([...Object.keys(MIGRATIONS), SLOW_MIGRATION].sort());
      expect(applied.filter((x) => x.length > 0)).toHaveLength(1);
      const store = open();
      // The slow migration is not in the project's list: a store that knows of none beyond its own refuses to run.
      await expect(store.migrate()).rejects.toThrow(/corrupted|missing/);
      await store.db.insertInto('devices').values(device('d1')).execute();
      expect(await store.db.selectFrom('devices').select('device_id').execute()).toEqual([{ device_id: 'd1' }]);
    }, 120_000);

    it('commits a transaction whole or not at all', async () => {
      const store = open();
      await store.migrate();
      await expect(
        store.transaction(async (trx) => {
          await trx.insertInto('devices').values(device('half')).execute();
          throw new Error('midway');
        }),
      ).rejects.toThrow('midway');
      expect(await store.db.selectFrom('devices').selectAll().execute()).toEqual([]);
      await store.transaction(async (trx) => {
        await trx.insertInto('devices').values(device('whole')).execute();
        await trx
          .insertInto('device_metrics')
          .values({
            device_id: 'whole',
            metric: 't',
            unit: '°C',
            display_name: null,
            precision: 1,
            range_min: -40,
            range_max: 85.5,
            updated_at: 1,
          })
          .execute();
      });
      expect(await store.db.selectFrom('device_metrics').select(['metric', 'unit']).execute()).toEqual([
        { metric: 't', unit: '°C' },
      ]);
    });

    it('reads back epoch-ms times as numbers, fractions and text exactly', async () => {
      const store = open();
      await store.migrate();
      const at = 4_102_444_800_123; // 2100-01-01, past 2^32 and 2^41
      await store.db
        .insertInto('devices')
        .values({ ...device('t', at), name: 'Pumpe Süd — 2', tags: JSON.stringify({ floor: '3', 'a b': 'ü' }) })
        .execute();
      await store.db
        .insertInto('device_metrics')
        .values({
          device_id: 't',
          metric: 'p',
          unit: null,
          display_name: 'Pressure',
          precision: 3,
          range_min: -0.125,
          range_max: 1e6,
          updated_at: at,
        })
        .execute();
      const row = await store.db.selectFrom('devices').selectAll().executeTakeFirstOrThrow();
      expect(row).toEqual({ ...device('t', at), name: 'Pumpe Süd — 2', tags: '{"floor":"3","a b":"ü"}' });
      expect(typeof row.created_at).toBe('number');
      const m = await store.db.selectFrom('device_metrics').selectAll().executeTakeFirstOrThrow();
      expect(m).toMatchObject({ precision: 3, range_min: -0.125, range_max: 1e6, updated_at: at });
    });

    it('keeps token hashes unique and drops a device’s metric metadata with it', async () => {
      const store = open();
      await store.migrate();
      await store.db.insertInto('devices').values(device('a')).execute();
      const dup = await store.db
        .insertInto('devices')
        .values({ ...device('b'), token_hash: 'h-a' })
        .execute()
        .then(
          () => null,
          (err: unknown) => err,
        );
      // A native driver's error class may belong to another jest module sandbox (the addon loads once per worker,
      // so `instanceof Error` and `.rejects.toThrow()` can fail): check what it says, not its class.
      expect(String((dup as { message?: unknown } | null)?.message)).toMatch(/unique|duplicate key/i);
      // Several revoked devices: NULL hashes do not collide.
      await store.db.updateTable('devices').set({ token_hash: null }).where('device_id', '=', 'a').execute();
      await store.db
        .insertInto('devices')
        .values({ ...device('b'), token_hash: null })
        .execute();
      await store.db
        .insertInto('device_metrics')
        .values({
          device_id: 'a',
          metric: 't',
          unit: 'K',
          display_name: null,
          precision: null,
          range_min: null,
          range_max: null,
          updated_at: 1,
        })
        .execute();
      await store.db.deleteFrom('devices').where('device_id', '=', 'a').execute();
      expect(await store.db.selectFrom('device_metrics').selectAll().execute()).toEqual([]);
    });

    it('runs transactions started at once without losing a row; a second instance sees them', async () => {
      const a = open();
      await a.migrate();
      const ids = Array.from({ length: 20 }, (_, i) => `d${String(i).padStart(2, '0')}`);
      await Promise.all(
        ids.map((id) =>
          a.transaction(async (trx) => {
            await trx.insertInto('devices').values(device(id)).execute();
            await trx.updateTable('devices').set({ name: id.toUpperCase() }).where('device_id', '=', id).execute();
          }),
        ),
      );
      const b = open();
      for (const s of [a, b]) {
        const rows = await s.db.selectFrom('devices').select(['device_id', 'name']).orderBy('device_id').execute();
        expect(rows).toEqual(ids.map((id) => ({ device_id: id, name: id.toUpperCase() })));
      }
      await a.ping();
    });
  });
}

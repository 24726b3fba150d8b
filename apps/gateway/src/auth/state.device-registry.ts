import type { Kysely, Selectable, Transaction } from 'kysely';
import type { DeviceMeta, DeviceMetaPatch, MetricMeta } from '@fieldline/contracts';
import type { DevicesTable, DeviceMetricsTable, StateSchema } from '../state/state.schema';
import type { InTransaction, StateStore } from '../state/state.store';
import type { DeviceRecord, DeviceRegistry } from './device-registry';
import type { RevocationBus } from './revocation-bus';

/** Labels of a device beyond its name: where it is, what it is, and free key-values. */
export interface DeviceTags {
  site: string | null;
  model: string | null;
  tags: Record<string, string>;
}

/** Everything the registry keeps of a device but its token hash. */
export interface DeviceDetails extends Omit<DeviceRecord, 'tokenHash'>, DeviceTags {
  /** Last time a new token replaced one, null before. */
  rotatedAt: number | null;
  /** Last revocation, null when never revoked. */
  revokedAt: number | null;
}

export type { MetricMeta };

/** What a one-time import did: null when it had been done before (by this node or another). */
export interface ImportResult {
  imported: number;
  /** Already registered in the state store (kept as they are there). */
  skipped: number;
}

type DeviceRow = Selectable<DevicesTable>;

function recordOf(r: DeviceRow): DeviceRecord {
  const out: DeviceRecord = {
    deviceId: r.device_id,
    createdAt: r.created_at,
    tokenIssuedAt: r.token_issued_at,
    tokenHash: r.token_hash,
  };
  if (r.name !== null) out.name = r.name;
  return out;
}

function metaOf(r: Selectable<DeviceMetricsTable>): MetricMeta {
  return {
    metric: r.metric,
    unit: r.unit,
    displayName: r.display_name,
    precision: r.precision,
    min: r.range_min,
    max: r.range_max,
  };
}

/**
 * The device registry in the state store (SQLite embedded, PostgreSQL with several nodes): the one every node
 * shares and that survives a Redis restart. Token checks do not come here per message: {@link DeviceAuth} caches
 * them, and a {@link RevocationBus} (Redis pub/sub, when configured) tells the other nodes to drop theirs.
 */
export class StateDeviceRegistry implements DeviceRegistry {
  constructor(
    private readonly state: StateStore,
    private readonly bus: RevocationBus | null = null,
    private readonly now: () => number = Date.now,
  ) {}

  async create(record: DeviceRecord, inTrx?: InTransaction): Promise<boolean> {
    const at = this.now();
    return this.writing(inTrx, async (db) => {
      const res = await db
        .insertInto('devices')
        .values(this.rowOf(record, at))
        .onConflict((oc) => oc.column('device_id').doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    });
  }

  async setToken(
    deviceId: string,
    tokenHash: string | null,
    issuedAt: number | null,
    inTrx?: InTransaction,
  ): Promise<DeviceRecord | undefined> {
    const at = this.now();
    const row = await this.writing(inTrx, (db) =>
      db
        .updateTable('devices')
        .set(
          tokenHash === null
            ? { token_hash: null, token_issued_at: null, revoked_at: at, updated_at: at }
            : { token_hash: tokenHash, token_issued_at: issuedAt, rotated_at: issuedAt ?? at, updated_at: at },
        )
        .where('device_id', '=', deviceId)
        .returningAll()
        .executeTakeFirst(),
    );
    if (!row) return undefined;
    await this.bus?.publish(deviceId);
    return recordOf(row);
  }

  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    const row = await this.state.db
      .selectFrom('devices')
      .selectAll()
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return row && recordOf(row);
  }

  async list(): Promise<DeviceRecord[]> {
    const rows = await this.state.db.selectFrom('devices').selectAll().orderBy('device_id').execute();
    return rows.map(recordOf);
  }

  async deviceOfToken(tokenHash: string): Promise<string | null> {
    const row = await this.state.db
      .selectFrom('devices')
      .select('device_id')
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row?.device_id ?? null;
  }

  onRemoteRevocation(listener: (deviceId: string) => void): Promise<void> {
    return this.bus ? this.bus.subscribe(listener) : Promise.resolve();
  }

  /** The state store is closed by the lifecycle, after everything that uses it. */
  async close(): Promise<void> {
    await this.bus?.close();
  }

  async details(deviceId: string): Promise<DeviceDetails | undefined> {
    const r = await this.state.db
      .selectFrom('devices')
      .selectAll()
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    if (!r) return undefined;
    const { tokenHash: _hash, ...rest } = recordOf(r);
    return {
      ...rest,
      rotatedAt: r.rotated_at,
      revokedAt: r.revoked_at,
      site: r.site,
      model: r.model,
      tags: JSON.parse(r.tags) as Record<string, string>,
    };
  }

  /** Replaces a device's site, model and free tags; resolves false when the device is unknown. */
  async setTags(deviceId: string, tags: DeviceTags): Promise<boolean> {
    return (await this.setMeta(deviceId, tags)) !== undefined;
  }

  async metrics(deviceId: string): Promise<MetricMeta[]> {
    return this.metricsIn(this.state.db, deviceId);
  }

  /** Replaces the metric metadata of a device, whole; false when the device is unknown. */
  async setMetrics(deviceId: string, metas: MetricMeta[]): Promise<boolean> {
    return (await this.setMeta(deviceId, { metrics: metas })) !== undefined;
  }

  /** Labels and metric metadata of a device; undefined when unknown. */
  async meta(deviceId: string): Promise<DeviceMeta | undefined> {
    const d = await this.details(deviceId);
    return d && { site: d.site, model: d.model, tags: d.tags, metrics: await this.metrics(deviceId) };
  }

  /**
   * Replaces the parts of a device's labels and metric metadata that `patch` holds, in one transaction; resolves
   * the result, or undefined when the device is unknown.
   */
  setMeta(deviceId: string, patch: DeviceMetaPatch, inTrx?: InTransaction): Promise<DeviceMeta | undefined> {
    const at = this.now();
    return this.state.transaction(async (trx) => {
      const row = await trx
        .updateTable('devices')
        .set({
          updated_at: at,
          ...(patch.site !== undefined ? { site: patch.site } : {}),
          ...(patch.model !== undefined ? { model: patch.model } : {}),
          ...(patch.tags !== undefined ? { tags: JSON.stringify(patch.tags) } : {}),
        })
        .where('device_id', '=', deviceId)
        .returning(['site', 'model', 'tags'])
        .executeTakeFirst();
      if (!row) return undefined;
      if (patch.metrics !== undefined) {
        await trx.deleteFrom('device_metrics').where('device_id', '=', deviceId).execute();
        if (patch.metrics.length > 0)
          await trx
            .insertInto('device_metrics')
            .values(
              patch.metrics.map((m) => ({
                device_id: deviceId,
                metric: m.metric,
                unit: m.unit,
                display_name: m.displayName,
                precision: m.precision,
                range_min: m.min,
                range_max: m.max,
                updated_at: at,
              })),
            )
            .execute();
      }
      const meta = {
        site: row.site,
        model: row.model,
        tags: JSON.parse(row.tags) as Record<string, string>,
        metrics: await this.metricsIn(trx, deviceId),
      };
      await inTrx?.(trx);
      return meta;
    });
  }

  /** Runs one write alone, or, with `inTrx`, in a transaction with it (only when the write changed something). */
  private writing<T>(inTrx: InTransaction | undefined, write: (db: Kysely<StateSchema>) => Promise<T>): Promise<T> {
    if (!inTrx) return write(this.state.db);
    return this.state.transaction(async (trx) => {
      const result = await write(trx);
      if (result) await inTrx(trx);
      return result;
    });
  }

  private async metricsIn(db: Transaction<StateSchema> | StateStore['db'], deviceId: string): Promise<MetricMeta[]> {
    const rows = await db
      .selectFrom('device_metrics')
      .selectAll()
      .where('device_id', '=', deviceId)
      .orderBy('metric')
      .execute();
    return rows.map(metaOf);
  }

  /**
   * Imports devices once under `name` (e.g. `devices.json`): in one transaction, the import's marker first, so
   * that of several nodes starting together one imports and the others find it done. A device already in the
   * store is kept as it is there. Null when this import had been done.
   */
  importOnce(name: string, records: DeviceRecord[]): Promise<ImportResult | null> {
    const at = this.now();
    return this.state.transaction(async (trx) => {
      const marker = await trx
        .insertInto('state_imports')
        .values({ name, imported_at: at, count: records.length })
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      if (Number(marker.numInsertedOrUpdatedRows ?? 0) === 0) return null;
      let imported = 0;
      for (const r of records) {
        const res = await trx
          .insertInto('devices')
          .values(this.rowOf(r, at))
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        imported += Number(res.numInsertedOrUpdatedRows ?? 0);
      }
      return { imported, skipped: records.length - imported };
    });
  }

  private rowOf(r: DeviceRecord, at: number): DevicesTable {
    return {
      device_id: r.deviceId,
      name: r.name ?? null,
      token_hash: r.tokenHash,
      created_at: r.createdAt,
      token_issued_at: r.tokenIssuedAt,
      rotated_at: null,
      revoked_at: r.tokenHash === null ? at : null,
      site: null,
      model: null,
      tags: '{}',
      updated_at: at,
    };
  }
}

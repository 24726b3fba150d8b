import { type BeforeApplicationShutdown, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { join } from 'node:path';
import { logger } from '../common/logger';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry } from '../metrics/metrics';
import { DeadLetter } from './dead-letter';
import { DuckDbStore } from './duckdb.store';
import { InfluxStore } from './influx.store';
import { TELEMETRY_STORE, type TelemetryStore } from './store';
import { Spool } from './spool';
import { registerStorageMetrics } from './storage.metrics';
import { WriteBuffer } from './write-buffer';

/** Flushes the write buffer before the store closes, in that order. */
@Injectable()
class StorageLifecycle implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly buffer: WriteBuffer,
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    // Resolves also when the store stayed down past the close deadline: what it lacks stays in the spool.
    await this.buffer.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

@Module({
  providers: [
    {
      provide: TELEMETRY_STORE,
      inject: [CONFIG],
      useFactory: async ({ storage }: GatewayConfig): Promise<TelemetryStore> => {
        let store: TelemetryStore;
        const { url, retention } = storage.influx;
        if (url !== null) {
          store = new InfluxStore({ url, retention, log: logger('InfluxStore') });
        } else {
          store = new DuckDbStore({ path: join(storage.dataDir, 'fieldline.duckdb') });
        }
        await store.init();
        return store;
      },
    },
    {
      provide: WriteBuffer,
      inject: [TELEMETRY_STORE, CONFIG, MetricsRegistry],
      useFactory: (store: TelemetryStore, { storage }: GatewayConfig, registry: MetricsRegistry) => {
        const log = logger('WriteBuffer');
        const spool = new Spool({ ...storage.spool, dir: join(storage.dataDir, 'spool'), lock: true, log });
        const buffer = new WriteBuffer(
          store,
          spool,
          storage.writeBuffer,
          log,
          new DeadLetter(join(storage.dataDir, 'dead-letter'), store.kind),
        );
        if (buffer.spooling) log.warn(`replaying ${spool.stats().segments} spool segment(s) left by an earlier run`);
        registerStorageMetrics(registry, buffer);
        buffer.resume();
        return buffer;
      },
    },
    StorageLifecycle,
  ],
  exports: [TELEMETRY_STORE, WriteBuffer],
})
export class StorageModule {}

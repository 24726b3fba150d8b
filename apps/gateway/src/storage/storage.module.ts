import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { join } from 'node:path';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry } from '../metrics/metrics';
import { DeadLetter } from './dead-letter';
import { DuckDbStore } from './duckdb.store';
import { InfluxStore } from './influx.store';
import { TELEMETRY_STORE, type TelemetryStore } from './store';
import { Spool } from './spool';
import { registerStorageMetrics } from './storage.metrics';
import { WriteBuffer } from './write-buffer';
import { errorMessage } from '@fieldline/contracts';

/** Flushes the write buffer before the store closes, in that order. */
@Injectable()
class StorageLifecycle implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly buffer: WriteBuffer,
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    try {
      await this.buffer.close();
    } catch (err) {
      // The store stayed down past the close deadline: say what was lost rather than hang the shutdown.
      new Logger('Storage').error(errorMessage(err));
    }
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
          const log = new Logger('InfluxStore');
          store = new InfluxStore({ url, retention, log: { log: (m) => log.log(m), warn: (m) => log.warn(m) } });
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
        const log = new Logger('WriteBuffer');
        const logger = { warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) };
        const spool = new Spool({ ...storage.spool, dir: join(storage.dataDir, 'spool'), lock: true, log: logger });
        spool.open();
        if (spool.behind) log.warn(`replaying ${spool.stats().segments} spool segment(s) left by an earlier run`);
        const buffer = new WriteBuffer(
          store,
          storage.writeBuffer,
          logger,
          spool,
          new DeadLetter(join(storage.dataDir, 'dead-letter'), store.kind),
        );
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

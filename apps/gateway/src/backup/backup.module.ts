import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { CONFIG, type GatewayConfig } from '../config/config';
import { STATE_STORE, type StateStore } from '../state/state.store';
import { StorageModule } from '../storage/storage.module';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { WriteBuffer } from '../storage/write-buffer';
import { BackupController } from './backup.controller';
import { BackupService } from './backup.service';

/** `POST /api/admin/backup`: state and readings of embedded mode, copied while the gateway runs. */
@Module({
  imports: [StorageModule],
  controllers: [BackupController],
  providers: [
    {
      provide: BackupService,
      inject: [CONFIG, STATE_STORE, TELEMETRY_STORE, WriteBuffer],
      useFactory: (config: GatewayConfig, state: StateStore, store: TelemetryStore, buffer: WriteBuffer) =>
        new BackupService(state, store, buffer, config.backup.dir ?? join(config.storage.dataDir, 'backups')),
    },
  ],
})
export class BackupModule {}

import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { IngestModule } from '../ingest/ingest.module';
import { LiveModule } from '../live/live.module';
import { StorageModule } from '../storage/storage.module';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';

@Module({
  imports: [StorageModule, IngestModule, LiveModule, DevicesModule],
  controllers: [HealthController],
  providers: [{ provide: Readiness, useFactory: () => new Readiness() }],
  exports: [Readiness],
})
export class HealthModule {}

import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { IngestModule } from '../ingest/ingest.module';
import { LiveModule } from '../live/live.module';
import { StorageModule } from '../storage/storage.module';
import { HealthController } from './health.controller';

@Module({
  imports: [StorageModule, IngestModule, LiveModule, DevicesModule],
  controllers: [HealthController],
})
export class HealthModule {}

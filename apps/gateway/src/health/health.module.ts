import { Module } from '@nestjs/common';
import { IngestModule } from '../ingest/ingest.module';
import { StorageModule } from '../storage/storage.module';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';

@Module({
  imports: [StorageModule, IngestModule],
  controllers: [HealthController],
  providers: [{ provide: Readiness, useFactory: () => new Readiness() }],
  exports: [Readiness],
})
export class HealthModule {}

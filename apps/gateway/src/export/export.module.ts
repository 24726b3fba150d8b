import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { StorageModule } from '../storage/storage.module';
import { ExportController } from './export.controller';

/** History export (CSV, NDJSON) streamed from the store. */
@Module({ imports: [StorageModule, DevicesModule], controllers: [ExportController] })
export class ExportModule {}

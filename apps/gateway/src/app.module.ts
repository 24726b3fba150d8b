import { type DynamicModule, Module } from '@nestjs/common';
import { AlarmsModule } from './alarms/alarms.module';
import { AuthModule } from './auth/auth.module';
import { BackupModule } from './backup/backup.module';
import type { GatewayConfig } from './config/config';
import { CommandsModule } from './commands/commands.module';
import { ConfigModule } from './config/config.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { DevicesModule } from './devices/devices.module';
import { ExportModule } from './export/export.module';
import { HealthModule } from './health/health.module';
import { IngestModule } from './ingest/ingest.module';
import { LiveModule } from './live/live.module';
import { MetricsModule } from './metrics/metrics.module';
import { OpenApiModule } from './openapi/openapi.module';
import { StorageModule } from './storage/storage.module';

@Module({})
export class AppModule {
  static register(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        MetricsModule,
        AuthModule,
        StorageModule,
        DevicesModule,
        LiveModule,
        AlarmsModule,
        IngestModule,
        CommandsModule,
        HealthModule,
        ExportModule,
        BackupModule,
        OpenApiModule,
        DashboardModule,
      ],
    };
  }
}

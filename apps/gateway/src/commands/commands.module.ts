import { Module } from '@nestjs/common';
import { logger } from '../common/logger';
import { DevicesChannel } from '../devices/devices.channel';
import { DevicesModule } from '../devices/devices.module';
import { DeviceTransports } from '../ingest/device-transports';
import { IngestModule } from '../ingest/ingest.module';
import { STATE_STORE, type StateStore } from '../state/state.store';
import { CommandsController } from './commands.controller';
import { CommandsRepository } from './commands.repository';
import { CommandService } from './commands.service';

/** Commands to devices: stored in the state store, sent through the device transports. Started by lifecycle.ts. */
@Module({
  imports: [IngestModule, DevicesModule],
  controllers: [CommandsController],
  providers: [
    {
      provide: CommandService,
      inject: [STATE_STORE, DeviceTransports, DevicesChannel],
      useFactory: (state: StateStore, transports: DeviceTransports, channel: DevicesChannel) => {
        const service = new CommandService(new CommandsRepository(state.db), transports, logger('Commands'));
        service.onChange((c) => channel.command(c));
        return service;
      },
    },
  ],
  exports: [CommandService],
})
export class CommandsModule {}

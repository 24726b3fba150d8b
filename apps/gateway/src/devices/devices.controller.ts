import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import {
  type DeviceSummary,
  ErrorCode,
  FieldlineError,
  type HistoryParams,
  type HistoryResponse,
  isValidDeviceId,
  parseHistoryParams,
  RestRoute,
} from '@fieldline/contracts';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { PresenceService } from './presence.service';

/** Device list and history. History is aggregated in the store, never in the gateway. */
@Controller()
export class DevicesController {
  constructor(
    private readonly presence: PresenceService,
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
  ) {}

  @Get(RestRoute.devices)
  list(): DeviceSummary[] {
    return this.presence.list();
  }

  @Get(RestRoute.device)
  get(@Param('id') id: string): DeviceSummary {
    const device = isValidDeviceId(id) ? this.presence.get(id) : undefined;
    if (!device) throw new FieldlineError(ErrorCode.NOT_FOUND, `no device "${id}"`);
    return device;
  }

  @Get(RestRoute.readings)
  async history(@Param('id') id: string, @Query() params: HistoryParams): Promise<HistoryResponse> {
    if (!isValidDeviceId(id)) throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'invalid device id');
    const query = parseHistoryParams(id, params, Date.now());
    try {
      return await this.store.history(query);
    } catch (err) {
      throw new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'history is unavailable right now', {
        reason: err instanceof Error ? err.message.slice(0, 200) : undefined,
      });
    }
  }
}

import { Controller, Get, Inject, Param, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
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
import { requestOperator } from '../common/access';
import type { ConcurrencyGate } from '../common/concurrency-gate';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { PresenceService } from './presence.service';

/** The {@link ConcurrencyGate} of REST history queries and exports, per operator. */
export const QUERY_GATE = Symbol('QUERY_GATE');

/**
 * Device list and history. History is aggregated in the store, never in the gateway; an operator's queries take turns
 * in the {@link QUERY_GATE} (with exports).
 */
@Controller()
export class DevicesController {
  constructor(
    private readonly presence: PresenceService,
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
    @Inject(QUERY_GATE) private readonly queries: ConcurrencyGate,
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
  async history(
    @Param('id') id: string,
    @Query() params: HistoryParams,
    @Req() req: Request,
  ): Promise<HistoryResponse | undefined> {
    if (!isValidDeviceId(id)) throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'invalid device id');
    const query = parseHistoryParams(id, params, Date.now());
    // A client that went away while its query waited gets nothing: undefined is never sent.
    return this.queries.run(
      requestOperator(req) ?? '',
      () => !req.socket.destroyed,
      async () => {
        try {
          return await this.store.history(query);
        } catch (err) {
          throw new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'history is unavailable right now', {
            reason: err instanceof Error ? err.message.slice(0, 200) : undefined,
          });
        }
      },
    );
  }
}

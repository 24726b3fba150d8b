import { Body, Controller, Get, Inject, Param, Put, Req } from '@nestjs/common';
import type { Request } from 'express';
import {
  AuditAction,
  DeviceMetaPatchSchema,
  type DeviceMetaResponse,
  ErrorCode,
  FieldlineError,
  RestRoute,
} from '@fieldline/contracts';
import { AdminOnly } from '../common/access';
import { DEVICE_REGISTRY } from './device-registry';
import { checkId } from './device-registry.controller';
import { RequestAudit } from './request-audit';
import type { StateDeviceRegistry } from './state.device-registry';

const unknown = (id: string): FieldlineError => new FieldlineError(ErrorCode.NOT_FOUND, `no registered device "${id}"`);

/** A registered device's labels (site, model, tags) and metric metadata: every operator reads, admins change. */
@Controller()
export class DeviceMetaController {
  constructor(
    @Inject(DEVICE_REGISTRY) private readonly registry: StateDeviceRegistry,
    private readonly audit: RequestAudit,
  ) {}

  @Get(RestRoute.deviceMeta)
  async get(@Param('id') id: string): Promise<DeviceMetaResponse> {
    const meta = await this.registry.meta(checkId(id));
    if (!meta) throw unknown(id);
    return { deviceId: id, ...meta };
  }

  /** Replaces the parts given; `metrics` replaces the whole list. */
  @AdminOnly()
  @Put(RestRoute.deviceMeta)
  set(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<DeviceMetaResponse> {
    const fields = typeof body === 'object' && body !== null ? Object.keys(body).slice(0, 8) : [];
    return this.audit.change(
      req,
      { action: AuditAction.deviceMeta, target: id, details: { fields } },
      async (inTrx) => {
        checkId(id);
        const parsed = DeviceMetaPatchSchema.safeParse(body);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new FieldlineError(ErrorCode.INVALID_REQUEST, `${issue.path.join('.') || 'body'}: ${issue.message}`, {
            path: issue.path.map(String),
          });
        }
        const meta = await this.registry.setMeta(id, parsed.data, inTrx);
        if (!meta) throw unknown(id);
        return { deviceId: id, ...meta };
      },
    );
  }
}

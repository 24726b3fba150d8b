import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import {
  AuditAction,
  type DeviceRegistration,
  type DeviceTokenResponse,
  ErrorCode,
  FieldlineError,
  isValidDeviceId,
  RestRoute,
} from '@fieldline/contracts';
import { AdminOnly } from '../common/access';
import { DeviceAuth } from './device-auth.service';
import { RequestAudit } from './request-audit';

/** The `:id` of a route, checked against the device id rule. */
export function checkId(id: string): string {
  if (!isValidDeviceId(id)) throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'invalid device id');
  return id;
}

/** Device registration and tokens (admins only). A token is shown once, in the answer that issues it. */
@AdminOnly()
@Controller()
export class DeviceRegistryController {
  constructor(
    private readonly devices: DeviceAuth,
    private readonly audit: RequestAudit,
  ) {}

  @Post(RestRoute.devices)
  register(@Body() body: unknown, @Req() req: Request): Promise<DeviceTokenResponse> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { deviceId?: unknown; name?: unknown };
    const what = {
      action: AuditAction.deviceRegister,
      ...(typeof b.deviceId === 'string' ? { target: b.deviceId } : {}),
      ...(typeof b.name === 'string' ? { details: { name: b.name } } : {}),
    };
    return this.audit.change(req, what, (inTrx) => this.devices.register(b.deviceId, b.name, inTrx));
  }

  @Get(RestRoute.registrations)
  list(): Promise<DeviceRegistration[]> {
    return this.devices.list();
  }

  @Get(RestRoute.deviceRegistration)
  get(@Param('id') id: string): Promise<DeviceRegistration> {
    return this.devices.get(checkId(id));
  }

  /** Rotation: a new token; the old one stops working and the device's open connections are closed. */
  @Post(RestRoute.deviceToken)
  @HttpCode(200)
  rotate(@Param('id') id: string, @Req() req: Request): Promise<DeviceTokenResponse> {
    const what = { action: AuditAction.tokenRotate, target: id };
    return this.audit.change(req, what, (inTrx) => this.devices.rotate(checkId(id), inTrx));
  }

  /** Revocation: the device has no valid token until rotated; its open connections are closed. */
  @Delete(RestRoute.deviceToken)
  revoke(@Param('id') id: string, @Req() req: Request): Promise<DeviceRegistration> {
    const what = { action: AuditAction.tokenRevoke, target: id };
    return this.audit.change(req, what, (inTrx) => this.devices.revoke(checkId(id), inTrx));
  }
}

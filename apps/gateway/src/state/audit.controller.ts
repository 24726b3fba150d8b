import { Controller, Get, Inject, Query } from '@nestjs/common';
import { type AuditPage, type AuditParams, parseAuditParams, RestRoute } from '@fieldline/contracts';
import { AdminOnly } from '../common/access';
import type { AuditLog } from './audit.log';
import { AUDIT_SINK } from './state.module';

/** The audit log, for admins: filters, newest first, paged by cursor. */
@AdminOnly()
@Controller()
export class AuditController {
  constructor(@Inject(AUDIT_SINK) private readonly audit: AuditLog) {}

  @Get(RestRoute.audit)
  list(@Query() query: AuditParams): Promise<AuditPage> {
    return this.audit.query(parseAuditParams(query));
  }
}

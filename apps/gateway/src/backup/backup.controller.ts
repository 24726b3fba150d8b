import { Body, Controller, Post } from '@nestjs/common';
import { type BackupResponse, RestRoute } from '@fieldline/contracts';
import { AdminOnly } from '../common/access';
import { BackupService } from './backup.service';

/** Online backup of embedded mode (admins only); `npm run backup -- <dir>` calls it. */
@AdminOnly()
@Controller()
export class BackupController {
  constructor(private readonly backups: BackupService) {}

  @Post(RestRoute.backup)
  backup(@Body() body: unknown): Promise<BackupResponse> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { dir?: unknown };
    return this.backups.backup(b.dir);
  }
}

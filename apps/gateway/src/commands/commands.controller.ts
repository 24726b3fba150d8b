import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  AuditAction,
  type Command,
  COMMAND_LIMITS,
  CommandListQuerySchema,
  CommandPath,
  commandPath,
  ErrorCode,
  FieldlineError,
  isValidDeviceId,
} from '@fieldline/contracts';
import { DEVICE_REGISTRY, type DeviceRegistry } from '../auth/device-registry';
import { RequestAudit } from '../auth/request-audit';
import { OperatorOnly, requestOperator } from '../common/access';
import { CommandService } from './commands.service';

/**
 * Commands over REST. Sending and cancelling are for the operator and admin roles, each in the audit log (refusals
 * too); viewers may read them. `POST ...?wait=<ms>` holds the request until the command is final (200) or `wait` passed (202, follow
 * the command at its `Location`).
 */
@Controller()
export class CommandsController {
  constructor(
    private readonly commands: CommandService,
    @Inject(DEVICE_REGISTRY) private readonly registry: DeviceRegistry,
    private readonly audit: RequestAudit,
  ) {}

  @OperatorOnly()
  @Post(CommandPath.commands)
  async create(
    @Param('id') id: string,
    @Body() body: unknown,
    @Query('wait') wait: string | undefined,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Command> {
    const waitMs = parseWait(wait);
    let created: { command: Command; created: boolean };
    try {
      await this.registered(id);
      created = await this.commands.create(id, body, requestOperator(req) ?? null);
    } catch (err) {
      const code = err instanceof FieldlineError ? err.code : ErrorCode.INTERNAL;
      await this.audit.record(req, { action: AuditAction.commandSend, target: id, details: { code } }, false);
      throw err;
    }
    const { command } = created;
    const details = { commandId: command.id, method: command.method, created: created.created };
    await this.audit.record(req, { action: AuditAction.commandSend, target: id, details }, true);
    // Never past the command's expiry: by then it is final.
    const now = await this.commands.waitFinal(command, Math.min(waitMs, Math.max(0, command.expiresAt - Date.now())));
    res.status(now.completedAt === null ? 202 : 200);
    res.setHeader('Location', commandPath(id, now.id));
    return now;
  }

  @Get(CommandPath.commands)
  async list(@Param('id') id: string, @Query() query: Record<string, unknown>): Promise<Command[]> {
    if (!isValidDeviceId(id)) throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'invalid device id');
    const parsed = CommandListQuerySchema.safeParse(query);
    if (!parsed.success) {
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, `status: one of the command statuses; limit: 1–1000`);
    }
    return this.commands.list(id, parsed.data.status, parsed.data.limit);
  }

  @Get(CommandPath.command)
  get(@Param('id') id: string, @Param('commandId') commandId: string): Promise<Command> {
    return this.commands.get(id, commandId);
  }

  @OperatorOnly()
  @HttpCode(200)
  @Post(CommandPath.cancel)
  async cancel(@Param('id') id: string, @Param('commandId') commandId: string, @Req() req: Request): Promise<Command> {
    const what = { action: AuditAction.commandCancel, target: id, details: { commandId } };
    try {
      const command = await this.commands.cancel(id, commandId);
      await this.audit.record(req, what, true);
      return command;
    } catch (err) {
      const code = err instanceof FieldlineError ? err.code : ErrorCode.INTERNAL;
      await this.audit.record(req, { ...what, details: { commandId, code } }, false);
      throw err;
    }
  }

  private async registered(id: string): Promise<void> {
    if (!isValidDeviceId(id)) throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'invalid device id');
    if (!(await this.registry.get(id))) throw new FieldlineError(ErrorCode.NOT_FOUND, `no registered device "${id}"`);
  }
}

function parseWait(wait: string | undefined): number {
  if (wait === undefined || wait === '') return 0;
  const ms = Number(wait);
  if (!Number.isInteger(ms) || ms < 0 || ms > COMMAND_LIMITS.maxWaitMs) {
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `wait: milliseconds, 0–${COMMAND_LIMITS.maxWaitMs}`);
  }
  return ms;
}

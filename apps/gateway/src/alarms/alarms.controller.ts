import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { z } from 'zod';
import {
  AckRequestSchema,
  AlarmAuditAction,
  type Alarm,
  type AlarmDetail,
  type AlarmListResponse,
  AlarmPath,
  AlarmQuerySchema,
  type AlarmRule,
  AlarmRuleInputSchema,
  ALARM_ID_PATTERN,
  CommentRequestSchema,
  ErrorCode,
  FieldlineError,
  ShelveRequestSchema,
} from '@fieldline/contracts';
import { RequestAudit } from '../auth/request-audit';
import { OperatorOnly, requestOperator } from '../common/access';
import { AlarmService } from './alarm.service';

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new FieldlineError(ErrorCode.INVALID_REQUEST, `${issue.path.join('.') || what}: ${issue.message}`, {
    path: issue.path.map(String),
  });
}

function checkId(id: string, what: string): string {
  if (!ALARM_ID_PATTERN.test(id)) throw new FieldlineError(ErrorCode.INVALID_REQUEST, `invalid ${what} id`);
  return id;
}

const operator = (req: object): string => requestOperator(req) ?? 'unknown';

/**
 * Rules (every operator reads; the operator role and admins change them, each change a new version) and alarms (the
 * operator role and admins act on them). Every change is in the audit log, refusals too.
 */
@Controller()
export class AlarmsController {
  constructor(
    @Inject(AlarmService) private readonly alarms: AlarmService,
    private readonly audit: RequestAudit,
  ) {}

  @Get(AlarmPath.rules)
  rules(): Promise<AlarmRule[]> {
    return this.alarms.store.rules();
  }

  @OperatorOnly()
  @Post(AlarmPath.rules)
  create(@Body() body: unknown, @Req() req: Request): Promise<AlarmRule> {
    const given = (body as { id?: unknown } | null)?.id;
    const target = typeof given === 'string' ? given.slice(0, 64) : undefined;
    return this.audit.change(req, { action: AlarmAuditAction.ruleCreate, target }, () => {
      const { id, ...spec } = parse(AlarmRuleInputSchema, body, 'body');
      return this.alarms.createRule(id, spec, operator(req));
    });
  }

  @Get(AlarmPath.rule)
  async rule(@Param('id') id: string): Promise<AlarmRule> {
    const rule = await this.alarms.store.rule(checkId(id, 'rule'));
    if (!rule) throw new FieldlineError(ErrorCode.NOT_FOUND, `no rule "${id}"`);
    return rule;
  }

  @Get(AlarmPath.ruleVersions)
  async versions(@Param('id') id: string): Promise<AlarmRule[]> {
    const versions = await this.alarms.store.versions(checkId(id, 'rule'));
    if (versions.length === 0) throw new FieldlineError(ErrorCode.NOT_FOUND, `no rule "${id}"`);
    return versions;
  }

  @OperatorOnly()
  @Put(AlarmPath.rule)
  update(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<AlarmRule> {
    return this.audit.change(req, { action: AlarmAuditAction.ruleUpdate, target: id.slice(0, 64) }, () => {
      checkId(id, 'rule');
      const { id: given, ...spec } = parse(AlarmRuleInputSchema, body, 'body');
      if (given !== undefined && given !== id)
        throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'id: must be the rule id of the path or absent');
      return this.alarms.updateRule(id, spec, operator(req));
    });
  }

  @OperatorOnly()
  @Delete(AlarmPath.rule)
  @HttpCode(204)
  remove(@Param('id') id: string, @Req() req: Request): Promise<void> {
    return this.audit.change(req, { action: AlarmAuditAction.ruleDelete, target: id.slice(0, 64) }, async () => {
      if (!(await this.alarms.deleteRule(checkId(id, 'rule'), operator(req))))
        throw new FieldlineError(ErrorCode.NOT_FOUND, `no rule "${id}"`);
    });
  }

  @Get(AlarmPath.alarms)
  async list(@Query() query: unknown): Promise<AlarmListResponse> {
    return { alarms: await this.alarms.list(parse(AlarmQuerySchema, query, 'query')) };
  }

  @Get(AlarmPath.alarm)
  async get(@Param('id') id: string): Promise<AlarmDetail> {
    const alarm = await this.alarms.detail(checkId(id, 'alarm'));
    if (!alarm) throw new FieldlineError(ErrorCode.NOT_FOUND, `no alarm "${id}"`);
    return alarm;
  }

  @OperatorOnly()
  @Post(AlarmPath.acknowledge)
  @HttpCode(200)
  acknowledge(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<Alarm> {
    return this.act(req, AlarmAuditAction.acknowledge, id, () => {
      const { comment } = parse(AckRequestSchema, body, 'body');
      return this.alarms.acknowledge(checkId(id, 'alarm'), operator(req), comment);
    });
  }

  @OperatorOnly()
  @Post(AlarmPath.clear)
  @HttpCode(200)
  clear(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<Alarm> {
    return this.act(req, AlarmAuditAction.clear, id, () => {
      const { comment } = parse(AckRequestSchema, body, 'body');
      return this.alarms.clear(checkId(id, 'alarm'), operator(req), comment);
    });
  }

  @OperatorOnly()
  @Post(AlarmPath.shelve)
  @HttpCode(200)
  shelve(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<Alarm> {
    return this.act(req, AlarmAuditAction.shelve, id, () => {
      const { until, comment } = parse(ShelveRequestSchema, body, 'body');
      return this.alarms.shelve(checkId(id, 'alarm'), until, operator(req), comment);
    });
  }

  @OperatorOnly()
  @Post(AlarmPath.comment)
  @HttpCode(200)
  comment(@Param('id') id: string, @Body() body: unknown, @Req() req: Request): Promise<Alarm> {
    return this.act(req, AlarmAuditAction.comment, id, () => {
      const { comment } = parse(CommentRequestSchema, body, 'body');
      return this.alarms.comment(checkId(id, 'alarm'), operator(req), comment);
    });
  }

  /** An operator's action on an alarm, in the audit log (after the alarm's own change is stored). */
  private act(req: Request, action: string, id: string, run: () => Promise<Alarm>): Promise<Alarm> {
    return this.audit.change(req, { action, target: id.slice(0, 64) }, run);
  }
}

import { z } from 'zod';
import {
  AckRequestSchema,
  AGGREGATIONS,
  AuditPageSchema,
  ALARM_STATES,
  AlarmRuleInputSchema,
  CommentRequestSchema,
  SEVERITIES,
  ShelveRequestSchema,
  COMMAND_STATUSES,
  CommandRequestSchema,
  DEVICE_ID_PATTERN,
  DeviceMetaPatchSchema,
  DeviceMetaSchema,
  ErrorCode,
  LIMITS,
  MAX_DEVICE_TOKEN_LENGTH,
  METRIC_NAME_PATTERN,
  MessageSchema,
  MIN_OPERATOR_PASSWORD_LENGTH,
  OPERATOR_ROLES,
  OPERATOR_USERNAME_PATTERN,
  ReadingInputSchema,
} from '@fieldline/contracts';

/**
 * Schemas of the documented bodies. Request bodies of readings are the very zod schemas the gateway validates with
 * (contracts' `ReadingInputSchema`, `MessageSchema`); answers are typed by contracts' interfaces, described here
 * in zod once so that `z.toJSONSchema` emits them in the same dialect (JSON Schema 2020-12, OpenAPI 3.1's).
 */
const deviceId = z.string().regex(DEVICE_ID_PATTERN).describe('1–64 characters of A-Z a-z 0-9 _ . -');
const epochMs = z.number().int().describe('epoch milliseconds');
const role = z.enum(OPERATOR_ROLES);
const OperatorUser = z.object({
  username: z.string(),
  role,
  disabledAt: epochMs.nullable(),
  createdAt: epochMs,
  updatedAt: epochMs,
  passwordChangedAt: epochMs,
  totp: z.boolean().describe('logs in with a one-time code too (TOTP_SECRETS)'),
});

const ErrorCodeSchema = z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]);

const HistoryPoint = z.object({
  ts: epochMs,
  value: z.number().describe('the chosen aggregation (raw: the value)'),
  min: z.number().optional(),
  max: z.number().optional(),
  count: z.number().optional(),
});

const severity = z.enum(SEVERITIES);
const AlarmRule = AlarmRuleInputSchema.omit({ id: true }).extend({
  id: z.string(),
  version: z.number().int().describe('1 for the first; each edit adds one'),
  updatedAt: epochMs,
  updatedBy: z.string().nullable(),
});
const Alarm = z.object({
  id: z.string(),
  ruleId: z.string(),
  ruleVersion: z.number().int(),
  deviceId,
  metric: z.string(),
  state: z.enum(ALARM_STATES),
  severity,
  reason: z.enum(['threshold', 'no_data']),
  value: z.number().nullable(),
  message: z.string(),
  pendingAt: epochMs,
  raisedAt: epochMs.nullable(),
  clearedAt: epochMs.nullable(),
  closedAt: epochMs.nullable(),
  acknowledgedAt: epochMs.nullable(),
  acknowledgedBy: z.string().nullable(),
  shelvedUntil: epochMs.nullable(),
  seq: z.number().int().describe('sequence number of its last change'),
});

const DeviceRegistration = z.object({
  deviceId,
  name: z.string().max(128).optional(),
  createdAt: epochMs,
  tokenIssuedAt: epochMs.nullable().describe('null when the token was revoked'),
});

/** Components: schema name → zod schema. */
export const SCHEMAS = {
  ErrorCode: ErrorCodeSchema,
  ErrorBody: z.object({
    code: ErrorCodeSchema,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  ReadingInput: ReadingInputSchema,
  Message: MessageSchema,
  ReadingError: z.object({
    index: z.number().int(),
    seq: z.number().int().optional(),
    code: ErrorCodeSchema,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  IngestResponse: z.object({
    accepted: z.number().int(),
    rejected: z.number().int(),
    errors: z.array(
      z.object({ index: z.number().int(), seq: z.number().int().optional(), code: z.string(), message: z.string() }),
    ),
  }),
  DeviceSummary: z.object({
    deviceId,
    online: z.boolean(),
    lastSeen: epochMs.nullable(),
    latestTs: epochMs.nullable(),
    latest: z.record(z.string(), z.number()),
    metrics: z.array(z.string()),
  }),
  HistoryResponse: z.object({
    deviceId,
    from: epochMs,
    to: epochMs,
    bucketMs: z.number().int().nullable().describe('bucket width in ms, null for raw points'),
    agg: z.enum(AGGREGATIONS),
    series: z.array(z.object({ metric: z.string(), points: z.array(HistoryPoint) })),
    truncated: z.boolean().describe('raw points were cut at maxPoints'),
  }),
  LoginRequest: z.object({
    username: z.string(),
    password: z.string(),
    totp: z
      .string()
      .regex(/^\d{6}$/)
      .optional()
      .describe('the one-time code, for users with a TOTP secret'),
  }),
  LoginResponse: z.object({
    accessToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().describe('seconds'),
    username: z.string(),
    role,
    refreshToken: z.string().describe('single use: POST /api/auth/refresh trades it for the next one'),
    refreshExpiresIn: z.number().int().describe('seconds'),
  }),
  RefreshRequest: z.object({ refreshToken: z.string().min(1).max(256) }),
  ChangePasswordRequest: z.object({
    currentPassword: z.string(),
    newPassword: z.string().min(MIN_OPERATOR_PASSWORD_LENGTH).max(1024),
  }),
  OperatorUser,
  CreateUserRequest: z.object({
    username: z.string().regex(OPERATOR_USERNAME_PATTERN),
    role,
    password: z
      .string()
      .min(MIN_OPERATOR_PASSWORD_LENGTH)
      .max(1024)
      .optional()
      .describe('without it the gateway makes one and answers it once'),
  }),
  UpdateUserRequest: z.object({ role: role.optional(), disabled: z.boolean().optional() }),
  NewPasswordResponse: z.object({
    user: OperatorUser,
    password: z.string().optional().describe('only when the gateway made it: shown this once'),
  }),
  OperatorSession: z.object({ username: z.string(), role, expiresAt: epochMs }),
  RegisterDeviceRequest: z.object({ deviceId, name: z.string().max(128).optional() }),
  DeviceRegistration,
  DeviceMeta: DeviceMetaSchema.extend({ deviceId }),
  DeviceMetaPatch: DeviceMetaPatchSchema,
  DeviceTokenResponse: DeviceRegistration.extend({
    token: z.string().max(MAX_DEVICE_TOKEN_LENGTH).describe('shown this one time only'),
  }),
  Health: z.object({
    status: z.enum(['ok', 'degraded', 'unavailable', 'draining']),
    checks: z.record(z.string(), z.boolean()).optional(),
    store: z.string().optional(),
    buffer: z.record(z.string(), z.unknown()).optional(),
    spool: z.record(z.string(), z.unknown()).nullable().optional(),
    drainingSinceMs: z.number().optional(),
  }),
  ExportBucketLine: z.object({
    ts: epochMs,
    metrics: z.record(
      z.string(),
      z.object({
        value: z.number(),
        min: z.number().optional(),
        max: z.number().optional(),
        count: z.number().optional(),
      }),
    ),
  }),
  AlarmRuleInput: AlarmRuleInputSchema,
  AlarmRule,
  AlarmRuleList: z.array(AlarmRule),
  Alarm,
  AlarmList: z.object({ alarms: z.array(Alarm) }),
  AlarmDetail: Alarm.extend({
    history: z.array(
      z.object({
        seq: z.number().int(),
        at: epochMs,
        action: z.string().describe('raised, updated, cleared, closed, acknowledged, shelved, commented'),
        actor: z.string().nullable(),
        severity,
        state: z.enum(ALARM_STATES),
        comment: z.string().optional(),
      }),
    ),
  }),
  AckRequest: AckRequestSchema,
  ShelveRequest: ShelveRequestSchema,
  CommentRequest: CommentRequestSchema,
  InfluxError: z.object({ error: z.string() }).describe('InfluxDB-shaped error of the line-protocol routes'),
  AuditPage: AuditPageSchema,
  CommandRequest: CommandRequestSchema,
  Command: z.object({
    id: z.string(),
    deviceId,
    method: z.string(),
    params: z.unknown(),
    oneWay: z.boolean(),
    persistent: z.boolean(),
    timeoutMs: z.number().int(),
    retries: z.number().int(),
    attempts: z.number().int().describe('sends so far'),
    expiresAt: epochMs,
    idempotencyKey: z.string().nullable(),
    collapseKey: z.string().nullable(),
    status: z.enum(COMMAND_STATUSES),
    result: z.unknown().describe("the device's result (succeeded)"),
    error: z
      .object({ code: z.string(), message: z.string() })
      .nullable()
      .describe('DEVICE_OFFLINE, TIMED_OUT, EXPIRED, COLLAPSED, DEVICE_ERROR or the code the device sent'),
    createdBy: z.string().nullable(),
    createdAt: epochMs,
    sentAt: epochMs.nullable(),
    deliveredAt: epochMs.nullable(),
    completedAt: epochMs.nullable().describe('when it became final'),
    updatedAt: epochMs,
  }),
} as const;

/** Name of a component schema. */
export type SchemaName = keyof typeof SCHEMAS;

/** Query parameters shared by history and export, with their JSON Schemas. */
export const HISTORY_QUERY = [
  {
    name: 'metric',
    schema: { type: 'string', pattern: METRIC_NAME_PATTERN.source },
    description: 'one metric (default all)',
  },
  { name: 'from', schema: { type: 'string' }, description: 'epoch ms or ISO-8601 (default: to − 1 h)' },
  { name: 'to', schema: { type: 'string' }, description: 'epoch ms or ISO-8601, exclusive (default: now)' },
  {
    name: 'bucket',
    schema: { type: 'string', pattern: '^(auto|raw|\\d{1,6}(ms|s|m|h|d|w))$' },
    description: 'auto, raw or a duration such as 10s, 5m, 1h, 1d',
  },
  {
    name: 'agg',
    schema: { type: 'string', enum: [...AGGREGATIONS] },
    description: 'aggregation per bucket (default mean)',
  },
  {
    name: 'maxPoints',
    schema: { type: 'integer', minimum: 1, maximum: LIMITS.maxHistoryPoints },
    description: 'points per series (default 1000)',
  },
  { name: 'tz', schema: { type: 'string' }, description: 'IANA time zone for buckets of a day or longer' },
] as const;

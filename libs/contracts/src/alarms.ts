import { z } from 'zod';
import type { ErrorBody } from './errors';
import { type AUTH_EXPIRED_EVENT, type RATE_LIMITED_EVENT } from './socket';
import { DEVICE_ID_PATTERN, METRIC_NAME_PATTERN } from './limits';

/** Severities, lowest first: a rule's levels are ordered by this, and an alarm steps up and down along it. */
export const SEVERITIES = ['warning', 'major', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** Rank of a severity in {@link SEVERITIES} (0 = lowest). */
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** REST paths of rules and alarms. */
export const AlarmPath = {
  /** `GET` → {@link AlarmRule}[] (current versions); `POST` (admin) {@link AlarmRuleInput} → {@link AlarmRule}, 201. */
  rules: '/api/rules',
  /** `GET` → {@link AlarmRule}; `PUT` (admin) a new version; `DELETE` (admin): a deleted version, 204. */
  rule: '/api/rules/:id',
  /** `GET` → {@link AlarmRule}[]: every version of a rule, oldest first. */
  ruleVersions: '/api/rules/:id/versions',
  /** `GET` → {@link AlarmListResponse}, filters {@link AlarmQuery}. */
  alarms: '/api/alarms',
  /** `GET` → {@link AlarmDetail}: the alarm with its history and comments. */
  alarm: '/api/alarms/:id',
  /** `POST` (operators) `{comment?}` → {@link Alarm}: acknowledge. */
  acknowledge: '/api/alarms/:id/acknowledge',
  /** `POST` (operators) `{comment?}` → {@link Alarm}: clear by hand (closes it; the rule may raise a new one). */
  clear: '/api/alarms/:id/clear',
  /** `POST` (operators) {@link ShelveRequest} → {@link Alarm}: no notices until then. */
  shelve: '/api/alarms/:id/shelve',
  /** `POST` (operators) {@link CommentRequest} → {@link Alarm}. */
  comment: '/api/alarms/:id/comment',
} as const;

export const rulePath = (id: string): string => `/api/rules/${encodeURIComponent(id)}`;
export const alarmPath = (id: string): string => `/api/alarms/${encodeURIComponent(id)}`;
export const alarmActionPath = (id: string, action: 'acknowledge' | 'clear' | 'shelve' | 'comment'): string =>
  `${alarmPath(id)}/${action}`;

/** Audit actions of rules and alarms (audit log `action`; target: the rule or alarm id). */
export const AlarmAuditAction = {
  ruleCreate: 'rule.create',
  ruleUpdate: 'rule.update',
  ruleDelete: 'rule.delete',
  acknowledge: 'alarm.acknowledge',
  clear: 'alarm.clear',
  shelve: 'alarm.shelve',
  comment: 'alarm.comment',
} as const;

/** Rule and alarm ids: what the gateway makes (UUIDs) and what a caller may choose. */
export const ALARM_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const deviceId = z.string().regex(DEVICE_ID_PATTERN);
const durationMs = z
  .number()
  .int()
  .min(0)
  .max(7 * 24 * 3600_000);

/**
 * Which devices a rule watches: one id, a list of ids, or a tag selector (`{"tags": {"site": "north"}}`: every
 * registered device whose tags hold all these pairs; `site` and `model` are matched as tags too).
 */
export const DeviceSelectorSchema = z.union([
  deviceId,
  z.array(deviceId).min(1).max(10_000),
  z.object({ tags: z.record(z.string().min(1).max(64), z.string().max(256)) }).strict(),
]);
export type DeviceSelector = z.infer<typeof DeviceSelectorSchema>;

/** One severity step of a threshold condition: raised when the value is beyond `threshold`. */
const ThresholdLevel = z.object({ severity: z.enum(SEVERITIES), threshold: z.number() }).strict();
/** One severity step of a range condition: `[low, high]`, both inclusive. */
const RangeLevel = z
  .object({ severity: z.enum(SEVERITIES), low: z.number(), high: z.number() })
  .strict()
  .refine((l) => l.low <= l.high, { message: 'low must not exceed high' });

const levels = <T extends z.ZodType<{ severity: Severity }>>(level: T) =>
  z
    .array(level)
    .min(1)
    .max(SEVERITIES.length)
    .refine((ls) => new Set(ls.map((l) => l.severity)).size === ls.length, {
      message: 'each severity at most once',
    });

/**
 * What raises: `above` (value > threshold), `below` (value < threshold), `outside` (value outside [low, high]),
 * `inside` (value inside [low, high]), `rate_above` / `rate_below` (change per second since the previous reading
 * beyond the threshold: `rate_above 2` raises on a rise faster than 2 units/s). Each severity has its own level; the highest one whose condition holds is the
 * alarm's severity.
 */
export const ConditionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.enum(['above', 'below']), levels: levels(ThresholdLevel) }).strict(),
  /** Rate of change: (value − previous value) per second between consecutive readings, above or below. */
  z.object({ kind: z.enum(['rate_above', 'rate_below']), levels: levels(ThresholdLevel) }).strict(),
  z.object({ kind: z.enum(['outside', 'inside']), levels: levels(RangeLevel) }).strict(),
]);
export type Condition = z.infer<typeof ConditionSchema>;

/**
 * When a raised level counts as gone: the value must be `hysteresis` back on the good side of that level's limit
 * (a separate clear condition: `above 80, hysteresis 5` clears at ≤ 75) for `forMs` without interruption.
 */
export const ClearSchema = z
  .object({ hysteresis: z.number().min(0).default(0), forMs: durationMs.default(0) })
  .strict();

/** What silence means: after `afterMs` without a reading, `alarm` (raise at `severity`), `keep` the state, or `ok`. */
export const NoDataSchema = z
  .object({
    afterMs: z
      .number()
      .int()
      .min(1000)
      .max(7 * 24 * 3600_000),
    action: z.enum(['alarm', 'keep', 'ok']),
    severity: z.enum(SEVERITIES).default('major'),
  })
  .strict();

/** `POST /api/rules` and `PUT /api/rules/:id` body. */
export const AlarmRuleInputSchema = z
  .object({
    /** Only on create; the gateway makes one when missing. */
    id: z.string().regex(ALARM_ID_PATTERN).optional(),
    name: z.string().min(1).max(128),
    enabled: z.boolean().default(true),
    devices: DeviceSelectorSchema,
    metric: z.string().regex(METRIC_NAME_PATTERN),
    condition: ConditionSchema,
    /** How long the condition must hold before the alarm is raised (and before it steps up). */
    forMs: durationMs.default(0),
    clear: ClearSchema.default({ hysteresis: 0, forMs: 0 }),
    noData: NoDataSchema.optional(),
    /** Notification text; `{{device}}`, `{{metric}}`, `{{value}}`, `{{severity}}`, `{{rule}}` are filled in. */
    template: z.string().max(2000).default('{{rule}}: {{device}} {{metric}} = {{value}} ({{severity}})'),
  })
  .strict();
export type AlarmRuleInput = z.input<typeof AlarmRuleInputSchema>;
export type AlarmRuleSpec = Omit<z.output<typeof AlarmRuleInputSchema>, 'id'>;

/** A rule as stored: its spec plus identity and version (each edit is a new version; old ones are kept). */
export interface AlarmRule extends AlarmRuleSpec {
  id: string;
  version: number;
  /** Epoch ms and operator of this version. */
  updatedAt: number;
  updatedBy: string | null;
}

/** Alarm states: `pending` (condition holds, `for` not yet elapsed), then the lifecycle operators see. */
export const ALARM_STATES = ['pending', 'active', 'acknowledged', 'cleared', 'closed'] as const;
export type AlarmState = (typeof ALARM_STATES)[number];
/** The states of an alarm that is still open: at most one per rule and device (enforced by the store). */
export const OPEN_ALARM_STATES = ['pending', 'active', 'acknowledged'] as const;

/** One alarm instance: a rule firing on one device, from raise to close. */
export interface Alarm {
  id: string;
  ruleId: string;
  ruleVersion: number;
  deviceId: string;
  metric: string;
  state: AlarmState;
  severity: Severity;
  /** `threshold`: the rule's condition; `no_data`: the device fell silent. */
  reason: 'threshold' | 'no_data';
  /** The value that raised it (last one at the last severity change); null for `no_data`. */
  value: number | null;
  /** The notification text, from the rule's template. */
  message: string;
  /** Epoch ms (event time: the readings' timestamps). */
  pendingAt: number;
  raisedAt: number | null;
  clearedAt: number | null;
  closedAt: number | null;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  shelvedUntil: number | null;
  /** The sequence number of its last change (same counter as {@link AlarmEventPayload.seq}). */
  seq: number;
}

/** One recorded change of an alarm: raise, severity change, clear, or an operator's action. */
export interface AlarmHistoryEntry {
  seq: number;
  at: number;
  /** `raised`, `updated`, `cleared`, `closed`, `acknowledged`, `shelved`, `commented`. */
  action: string;
  actor: string | null;
  severity: Severity;
  state: AlarmState;
  comment?: string;
}

export interface AlarmDetail extends Alarm {
  history: AlarmHistoryEntry[];
}

/** `GET /api/alarms` query. */
export const AlarmQuerySchema = z
  .object({
    state: z
      .union([z.enum(ALARM_STATES), z.literal('open')])
      .optional()
      .describe('a state, or `open` (pending, active, acknowledged)'),
    severity: z.enum(SEVERITIES).optional().describe('this severity or higher'),
    device: deviceId.optional(),
    rule: z.string().regex(ALARM_ID_PATTERN).optional(),
    from: z.coerce.number().int().optional().describe('raised (or pending) at or after, epoch ms'),
    to: z.coerce.number().int().optional().describe('raised (or pending) before, epoch ms'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
export type AlarmQuery = z.input<typeof AlarmQuerySchema>;
/** The query as the gateway reads it (numbers coerced, default limit). */
export type AlarmFilter = z.output<typeof AlarmQuerySchema>;

export interface AlarmListResponse {
  alarms: Alarm[];
}

export const CommentRequestSchema = z.object({ comment: z.string().min(1).max(2000) }).strict();
export type CommentRequest = z.infer<typeof CommentRequestSchema>;
export const AckRequestSchema = z.object({ comment: z.string().min(1).max(2000).optional() }).strict();
export const ShelveRequestSchema = z
  .object({ until: z.number().int().describe('epoch ms'), comment: z.string().min(1).max(2000).optional() })
  .strict();
export type ShelveRequest = z.infer<typeof ShelveRequestSchema>;

/** Socket.IO events of `/alerts`. */
export const AlertsEvent = {
  /** Client → server: `{since?}` → {@link AlertsSubscribeAck}; then the events below as they happen. */
  subscribe: 'subscribe',
  raised: 'raised',
  updated: 'updated',
  cleared: 'cleared',
} as const;

/** Every `/alerts` event: the alarm after the change, with the change's sequence number (gap-free per gateway). */
export interface AlarmEventPayload {
  seq: number;
  event: 'raised' | 'updated' | 'cleared';
  alarm: Alarm;
}

/** `subscribe` request: `since` (a sequence number) asks for the changes after it. */
export interface AlertsSubscribeRequest {
  since?: number;
}
/** The changes with `seq > since` (oldest first) and the last sequence number; `truncated`: older ones were left out. */
export type AlertsSubscribeAck =
  { ok: true; backfill: AlarmEventPayload[]; seq: number; truncated: boolean } | { ok: false; error: ErrorBody };

export interface AlertsServerEvents {
  raised: (payload: AlarmEventPayload) => void;
  updated: (payload: AlarmEventPayload) => void;
  cleared: (payload: AlarmEventPayload) => void;
  [AUTH_EXPIRED_EVENT]: (error: ErrorBody) => void;
  [RATE_LIMITED_EVENT]: (error: ErrorBody) => void;
}
export interface AlertsClientEvents {
  subscribe: (req: AlertsSubscribeRequest, ack: (res: AlertsSubscribeAck) => void) => void;
}

/** Header of every webhook notice: `sha256=<hex HMAC-SHA256 of the body with ALARM_WEBHOOK_SECRET>`. */
export const ALARM_SIGNATURE_HEADER = 'x-fieldline-signature';
/** Header naming a notice: `<alarm id>:<seq>`; a receiver drops one it has seen (delivery is at least once). */
export const ALARM_DELIVERY_HEADER = 'x-fieldline-delivery';

/** One alert of an Alertmanager webhook body (what Alertmanager's receivers parse). */
export interface AlertmanagerAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RFC 3339; `endsAt` is the zero time while firing. */
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** The Alertmanager webhook payload (version 4), one alert per notice. */
export interface AlertmanagerWebhook {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerAlert[];
}

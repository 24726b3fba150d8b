import { z } from 'zod';
import {
  AUDIT_PAGE_DEFAULT,
  AUDIT_PAGE_MAX,
  AUDIT_PATH,
  ALARM_STATES,
  AlarmPath,
  AuthPath,
  BackupPath,
  COMMAND_LIMITS,
  COMMAND_STATUSES,
  ErrorCode,
  SEVERITIES,
  HTTP_STATUS_OF,
  INGEST_PATH,
  LIMITS,
  LineProtocolPath,
} from '@fieldline/contracts';
import { HISTORY_QUERY, type SchemaName, SCHEMAS } from './openapi.schemas';

type Json = Record<string, unknown>;
type Method = 'get' | 'post' | 'delete' | 'put' | 'patch' | 'head';
type Security = 'operator' | 'admin' | 'device' | 'metrics' | 'influx' | 'public';

/** One documented operation. `errors` lists every error code the route can answer; statuses come from contracts. */
interface Op {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  description?: string;
  security: Security;
  params?: Json[];
  body?: { schema: SchemaName | Json; contentType?: string; description?: string };
  ok: Record<string, { description: string; content?: Record<string, Json>; headers?: Json }>;
  errors?: ErrorCode[];
  /** Routes whose errors follow InfluxDB's `{error}` shape rather than `{code, message}`. */
  influxErrors?: number[];
}

const ref = (name: SchemaName): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Record<string, Json> => ({ 'application/json': { schema } });
const idParam: Json = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
};
const commandIdParam: Json = { name: 'commandId', in: 'path', required: true, schema: { type: 'string' } };
const historyParams = (): Json[] =>
  HISTORY_QUERY.map((p) => ({
    name: p.name,
    in: 'query',
    required: false,
    schema: p.schema,
    description: p.description,
  }));

const AUTH_ERRORS = [ErrorCode.UNAUTHORIZED];
const ADMIN_ERRORS = [ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN];
const READING_ERRORS = [
  ErrorCode.MALFORMED_JSON,
  ErrorCode.INVALID_MESSAGE,
  ErrorCode.INVALID_READING,
  ErrorCode.INVALID_DEVICE_ID,
  ErrorCode.DEVICE_ID_MISMATCH,
  ErrorCode.INVALID_TIMESTAMP,
  ErrorCode.INVALID_SEQ,
  ErrorCode.NO_METRICS,
  ErrorCode.INVALID_METRIC_NAME,
  ErrorCode.INVALID_METRIC_VALUE,
  ErrorCode.TOO_MANY_METRICS,
  ErrorCode.INVALID_TAGS,
  ErrorCode.BATCH_TOO_LARGE,
  ErrorCode.EMPTY_BATCH,
  ErrorCode.MESSAGE_TOO_LARGE,
];
const lineProtocolParams = (v2: boolean): Json[] =>
  (v2
    ? [
        ['org', 'accepted and ignored'],
        ['bucket', 'accepted and ignored'],
      ]
    : [
        ['db', 'accepted and ignored'],
        ['rp', 'accepted and ignored'],
        ['u', 'device id or bridge name (v1 query auth)'],
        ['p', 'device or bridge token (v1 query auth)'],
      ]
  )
    .map(([name, description]): Json => ({
      name,
      in: 'query',
      required: false,
      schema: { type: 'string' },
      description,
    }))
    .concat([
      {
        name: 'precision',
        in: 'query',
        required: false,
        schema: { type: 'string', enum: v2 ? ['ns', 'us', 'ms', 's'] : ['ns', 'u', 'ms', 's', 'm', 'h'] },
        description: 'timestamp precision (default ns)',
      },
    ]);
const lineProtocolWrite = (path: string, v2: boolean): Op => ({
  method: 'post',
  path,
  tag: 'line protocol',
  summary: `InfluxDB ${v2 ? '2.x' : '1.x'} line-protocol write (Telegraf outputs.influxdb${v2 ? '_v2' : ''})`,
  description:
    'Measurement and field become the metric name (`<measurement>_<field>`), tags stay tags; the device comes from ' +
    'a configurable tag (default `device_id`). Integers, floats and booleans are taken, strings refused. ' +
    '`Content-Encoding: gzip` is accepted (the size limit applies after gunzip). Good lines are kept when a bad ' +
    'one is refused (400 names it). A batch is refused whole (429/503 with `Retry-After`, nothing stored) or not ' +
    'at all, so that a client resending it stores nothing twice.',
  security: 'influx',
  params: lineProtocolParams(v2),
  body: { schema: { type: 'string' }, contentType: 'text/plain', description: 'line protocol, one point per line' },
  ok: { '204': { description: 'every line stored (durable)' } },
  influxErrors: [400, 401, 403, 413, 429, 503],
});

/** An admin's list of what the state store holds. */
const adminList = (path: string, tag: string, summary: string, what: string, item: SchemaName): Op => ({
  method: 'get',
  path,
  tag,
  summary,
  security: 'admin',
  ok: { '200': { description: what, content: json({ type: 'array', items: ref(item) }) } },
  errors: [...ADMIN_ERRORS, ErrorCode.STORE_UNAVAILABLE],
});

/** Rotating and revoking a token differ only in method and answer. */
const tokenRoute = (method: Method, summary: string, ok: Op['ok'][string]): Op => ({
  method,
  path: '/api/devices/{id}/token',
  tag: 'device registry',
  summary,
  security: 'admin',
  params: [idParam],
  ok: { '200': ok },
  errors: [...ADMIN_ERRORS, ErrorCode.INVALID_DEVICE_ID, ErrorCode.NOT_FOUND, ErrorCode.STATE_UNAVAILABLE],
});

const usernameParam: Json = {
  name: 'username',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,64}$' },
};
const USER_ERRORS = [...ADMIN_ERRORS, ErrorCode.NOT_FOUND, ErrorCode.STORE_UNAVAILABLE];
const newPassword = (description: string): Op['ok'][string] => ({
  description,
  content: json(ref('NewPasswordResponse')),
});

const ruleIdParam: Json = { ...idParam, description: 'rule id' };
const alarmIdParam: Json = { ...idParam, description: 'alarm id' };
const RULE_WRITE_ERRORS = [...ADMIN_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON];
const ALARM_QUERY: Json[] = [
  ['state', { type: 'string', enum: [...ALARM_STATES, 'open'] }, 'a state, or open (pending, active, acknowledged)'],
  ['severity', { type: 'string', enum: [...SEVERITIES] }, 'this severity or higher'],
  ['device', { type: 'string' }, 'device id'],
  ['rule', { type: 'string' }, 'rule id'],
  ['from', { type: 'integer' }, 'pending at or after (epoch ms)'],
  ['to', { type: 'integer' }, 'pending before (epoch ms)'],
  ['limit', { type: 'integer', minimum: 1, maximum: 1000 }, 'at most this many, newest first (default 100)'],
].map(([name, schema, description]) => ({ name, in: 'query', required: false, schema, description }));

/** The four operator actions on an alarm differ in path, body and words. */
const alarmAction = (action: string, body: SchemaName, summary: string): Op => ({
  method: 'post',
  path: `/api/alarms/{id}/${action}`,
  tag: 'alarms',
  summary,
  security: 'admin',
  params: [alarmIdParam],
  body: { schema: body },
  ok: { '200': { description: 'the alarm after the change', content: json(ref('Alarm')) } },
  errors: [...RULE_WRITE_ERRORS, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT],
});

const ALARM_OPERATIONS: readonly Op[] = (
  [
    {
      method: 'get',
      path: AlarmPath.rules,
      tag: 'alarms',
      summary: 'Alarm rules (current versions)',
      security: 'operator',
      ok: { '200': { description: 'rules', content: json(ref('AlarmRuleList')) } },
      errors: AUTH_ERRORS,
    },
    {
      method: 'post',
      path: AlarmPath.rules,
      tag: 'alarms',
      summary: 'Create a rule (operator role or admin)',
      description:
        'Devices by id, list or tag selector; per-severity levels of a threshold or range condition; `forMs` before ' +
        'it raises (and steps up); a clear band (`hysteresis`) held for `clear.forMs` before it clears or steps down; ' +
        'no-data handling. Evaluated on every reading by its own timestamp (docs/alarms.md).',
      security: 'admin',
      body: { schema: 'AlarmRuleInput' },
      ok: { '201': { description: 'the rule, version 1', content: json(ref('AlarmRule')) } },
      errors: [...RULE_WRITE_ERRORS, ErrorCode.CONFLICT],
    },
    {
      method: 'get',
      path: '/api/rules/{id}',
      tag: 'alarms',
      summary: "A rule's current version",
      security: 'operator',
      params: [ruleIdParam],
      ok: { '200': { description: 'the rule', content: json(ref('AlarmRule')) } },
      errors: [...AUTH_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND],
    },
    {
      method: 'put',
      path: '/api/rules/{id}',
      tag: 'alarms',
      summary: 'Replace a rule (operator role or admin): a new version; evaluation state of its devices is kept',
      security: 'admin',
      params: [ruleIdParam],
      body: { schema: 'AlarmRuleInput' },
      ok: { '200': { description: 'the new version', content: json(ref('AlarmRule')) } },
      errors: [...RULE_WRITE_ERRORS, ErrorCode.NOT_FOUND],
    },
    {
      method: 'delete',
      path: '/api/rules/{id}',
      tag: 'alarms',
      summary: 'Delete a rule (operator role or admin): a deleted version; its open alarms are closed',
      security: 'admin',
      params: [ruleIdParam],
      ok: { '204': { description: 'deleted' } },
      errors: [...ADMIN_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND],
    },
    {
      method: 'get',
      path: '/api/rules/{id}/versions',
      tag: 'alarms',
      summary: 'Every version of a rule, oldest first (a deleted version reads as enabled: false)',
      security: 'operator',
      params: [ruleIdParam],
      ok: { '200': { description: 'versions', content: json(ref('AlarmRuleList')) } },
      errors: [...AUTH_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND],
    },
    {
      method: 'get',
      path: AlarmPath.alarms,
      tag: 'alarms',
      summary: 'Alarms, newest first, by state, severity, device, rule and time',
      security: 'operator',
      params: ALARM_QUERY,
      ok: { '200': { description: 'alarms', content: json(ref('AlarmList')) } },
      errors: [...AUTH_ERRORS, ErrorCode.INVALID_REQUEST],
    },
    {
      method: 'get',
      path: '/api/alarms/{id}',
      tag: 'alarms',
      summary: 'An alarm with its history (who did what, when)',
      security: 'operator',
      params: [alarmIdParam],
      ok: { '200': { description: 'the alarm', content: json(ref('AlarmDetail')) } },
      errors: [...AUTH_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND],
    },
    alarmAction(
      'acknowledge',
      'AckRequest',
      'Acknowledge (operator role or admin): active → acknowledged, cleared → closed',
    ),
    alarmAction(
      'clear',
      'AckRequest',
      'Clear by hand (operator role or admin): closed; the rule starts over on the device',
    ),
    alarmAction('shelve', 'ShelveRequest', 'Shelve until a time (operator role or admin): no notices until then'),
    alarmAction('comment', 'CommentRequest', 'Comment on an alarm (operator role or admin)'),
  ] satisfies Op[]
).map((op): Op => ({ ...op, errors: [...(op.errors ?? []), ErrorCode.STATE_UNAVAILABLE] })); // all use the state store

/** Every route of the gateway. The Nest routes are checked against this list by `openapi.e2e-spec.ts`. */
export const OPERATIONS: readonly Op[] = [
  {
    method: 'post',
    path: AuthPath.login,
    tag: 'auth',
    summary: 'Operator login',
    security: 'public',
    body: { schema: 'LoginRequest' },
    ok: { '200': { description: 'a bearer token', content: json(ref('LoginResponse')) } },
    description:
      'Failed logins are throttled per user name across addresses (a delay that doubles past a free budget) and per ' +
      'client address; a flood beyond the hashing queue is refused at once. Sets the known-client cookie ' +
      '`fieldline_client`, which exempts this browser from delays caused by guesses elsewhere (docs/security.md#login-against-guessing-and-floods).',
    errors: [ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON, ErrorCode.UNAUTHORIZED, ErrorCode.RATE_LIMITED],
  },
  {
    method: 'post',
    path: AuthPath.unlock,
    tag: 'auth',
    summary: "Clear a user name's failed-login delay (admin)",
    security: 'admin',
    body: {
      schema: {
        type: 'object',
        properties: { username: { type: 'string', minLength: 1, maxLength: 64 } },
        required: ['username'],
      },
    },
    ok: {
      '200': {
        description: 'the failed logins forgotten',
        content: json({
          type: 'object',
          properties: { username: { type: 'string' }, failures: { type: 'integer', minimum: 0 } },
          required: ['username', 'failures'],
        }),
      },
    },
    errors: [...ADMIN_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON],
  },
  {
    method: 'post',
    path: AuthPath.refresh,
    tag: 'auth',
    summary: 'Trade a refresh token for a new access token and the next refresh token',
    description:
      'Each refresh token works once. Presenting one that was already traded ends its whole session (every token ' +
      'rotated from the same login), since it means the token was copied.',
    security: 'public',
    body: { schema: 'RefreshRequest' },
    ok: { '200': { description: 'a new access token and refresh token', content: json(ref('LoginResponse')) } },
    errors: [ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON, ErrorCode.UNAUTHORIZED, ErrorCode.STORE_UNAVAILABLE],
  },
  {
    method: 'post',
    path: AuthPath.logout,
    tag: 'auth',
    summary: "End a session: its refresh token and the session's access tokens stop working",
    security: 'public',
    body: { schema: 'RefreshRequest' },
    ok: { '204': { description: 'ended (or there was no such session)' } },
    errors: [ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON, ErrorCode.STORE_UNAVAILABLE],
  },
  {
    method: 'post',
    path: AuthPath.password,
    tag: 'auth',
    summary: 'Change your own password',
    description: 'Every session of the user ends, this one too; the answer is a new session for the caller.',
    security: 'operator',
    body: { schema: 'ChangePasswordRequest' },
    ok: { '200': { description: 'a new session', content: json(ref('LoginResponse')) } },
    errors: [
      ...AUTH_ERRORS,
      ErrorCode.FORBIDDEN,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.MALFORMED_JSON,
      ErrorCode.STORE_UNAVAILABLE,
    ],
  },
  adminList(AuthPath.users, 'users', 'Every user, without password hashes (admin)', 'users', 'OperatorUser'),
  {
    method: 'post',
    path: AuthPath.users,
    tag: 'users',
    summary: 'Add a user (admin)',
    security: 'admin',
    body: { schema: 'CreateUserRequest' },
    ok: { '201': newPassword('added; a password the gateway made is shown this once') },
    errors: [...USER_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON, ErrorCode.CONFLICT],
  },
  {
    method: 'patch',
    path: '/api/users/{username}',
    tag: 'users',
    summary: "Change a user's role, or disable or enable it (admin)",
    description:
      "A disabled user's refresh tokens are revoked and its open Socket.IO connections cut at once, on every node; " +
      'a new role takes effect at once too (older access tokens are refused, the dashboard refreshes). The last ' +
      'enabled admin cannot be disabled or demoted (409).',
    security: 'admin',
    params: [usernameParam],
    body: { schema: 'UpdateUserRequest' },
    ok: { '200': { description: 'the user', content: json(ref('OperatorUser')) } },
    errors: [...USER_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON, ErrorCode.CONFLICT],
  },
  {
    method: 'post',
    path: '/api/users/{username}/password',
    tag: 'users',
    summary: "Reset a user's password (admin): the one given, or one the gateway makes",
    description: 'Every session of the user ends; its sockets are cut.',
    security: 'admin',
    params: [usernameParam],
    body: {
      schema: {
        type: 'object',
        properties: { password: { type: 'string', minLength: 8, maxLength: 1024 } },
      },
    },
    ok: { '200': newPassword('reset; a password the gateway made is shown this once') },
    errors: [...USER_ERRORS, ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON],
  },
  {
    method: 'delete',
    path: '/api/users/{username}',
    tag: 'users',
    summary: 'Remove a user and its sessions (admin); the last enabled admin stays',
    security: 'admin',
    params: [usernameParam],
    ok: { '204': { description: 'removed' } },
    errors: [...USER_ERRORS, ErrorCode.CONFLICT],
  },
  {
    method: 'get',
    path: AUDIT_PATH,
    tag: 'audit',
    summary: 'The audit log (admin): logins, unlocks, device registry changes; newest first',
    description:
      'Each entry says who (`actor`: the operator, or the user name a login claimed), when, from where (the client ' +
      'address, through trusted proxies only), what (`action`, `target`, `details`) and whether it went through ' +
      '(`ok`). Entries are kept for AUDIT_RETENTION (default 90 days). Page on with `cursor=<nextCursor>`.',
    security: 'admin',
    params: [
      ['from', { type: 'string' }, 'epoch ms or ISO-8601, inclusive'],
      ['to', { type: 'string' }, 'epoch ms or ISO-8601, exclusive'],
      ['actor', { type: 'string', maxLength: 128 }, 'exactly this actor'],
      ['action', { type: 'string', maxLength: 128 }, 'action prefix: `device.` or `auth.login`'],
      ['target', { type: 'string', maxLength: 128 }, 'exactly this target (a device id, a user name)'],
      ['ok', { type: 'string', enum: ['true', 'false'] }, 'done (true) or refused (false) only'],
      [
        'limit',
        { type: 'integer', minimum: 1, maximum: AUDIT_PAGE_MAX },
        `entries per page (default ${AUDIT_PAGE_DEFAULT})`,
      ],
      ['cursor', { type: 'string' }, 'the `nextCursor` of the previous page'],
    ].map(([name, schema, description]) => ({ name, in: 'query', required: false, schema, description })),
    ok: { '200': { description: 'a page of entries', content: json(ref('AuditPage')) } },
    errors: [...ADMIN_ERRORS, ErrorCode.INVALID_REQUEST],
  },
  {
    method: 'get',
    path: AuthPath.me,
    tag: 'auth',
    summary: 'Who the bearer token belongs to',
    security: 'operator',
    ok: { '200': { description: 'the session', content: json(ref('OperatorSession')) } },
    errors: AUTH_ERRORS,
  },
  adminList(
    AuthPath.registrations,
    'device registry',
    'Every registered device, without tokens (admin)',
    'registrations',
    'DeviceRegistration',
  ),
  {
    method: 'post',
    path: AuthPath.devices,
    tag: 'device registry',
    summary: 'Register a device and issue its token (admin)',
    security: 'admin',
    body: { schema: 'RegisterDeviceRequest' },
    ok: {
      '201': { description: 'registered; the token is shown this once', content: json(ref('DeviceTokenResponse')) },
    },
    errors: [
      ...ADMIN_ERRORS,
      ErrorCode.INVALID_DEVICE_ID,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.MALFORMED_JSON,
      ErrorCode.CONFLICT,
      ErrorCode.STATE_UNAVAILABLE,
    ],
  },
  {
    method: 'get',
    path: '/api/devices/{id}/registration',
    tag: 'device registry',
    summary: "A device's registration (admin)",
    security: 'admin',
    params: [idParam],
    ok: { '200': { description: 'the registration', content: json(ref('DeviceRegistration')) } },
    errors: [...ADMIN_ERRORS, ErrorCode.INVALID_DEVICE_ID, ErrorCode.NOT_FOUND],
  },
  {
    method: 'get',
    path: '/api/devices/{id}/meta',
    tag: 'device registry',
    summary: "A device's labels (site, model, tags) and metric metadata (unit, display name, precision, range)",
    security: 'operator',
    params: [idParam],
    ok: { '200': { description: 'labels and metric metadata', content: json(ref('DeviceMeta')) } },
    errors: [...AUTH_ERRORS, ErrorCode.INVALID_DEVICE_ID, ErrorCode.NOT_FOUND],
  },
  {
    method: 'put',
    path: '/api/devices/{id}/meta',
    tag: 'device registry',
    summary: "Set a device's labels and metric metadata (admin): the parts given are replaced, metrics as a whole",
    security: 'admin',
    params: [idParam],
    body: { schema: 'DeviceMetaPatch' },
    ok: { '200': { description: 'labels and metric metadata', content: json(ref('DeviceMeta')) } },
    errors: [
      ...ADMIN_ERRORS,
      ErrorCode.INVALID_DEVICE_ID,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.NOT_FOUND,
      ErrorCode.STATE_UNAVAILABLE,
    ],
  },
  tokenRoute('post', "Rotate a device's token (admin); its open connections are closed", {
    description: 'the new token, shown this once',
    content: json(ref('DeviceTokenResponse')),
  }),
  tokenRoute('delete', "Revoke a device's token (admin); its open connections are closed", {
    description: 'the registration, without token',
    content: json(ref('DeviceRegistration')),
  }),
  {
    method: 'get',
    path: '/api/devices',
    tag: 'devices',
    summary: 'Every known device with presence and latest values',
    security: 'operator',
    ok: { '200': { description: 'devices', content: json({ type: 'array', items: ref('DeviceSummary') }) } },
    errors: AUTH_ERRORS,
  },
  {
    method: 'get',
    path: '/api/devices/{id}',
    tag: 'devices',
    summary: 'One device',
    security: 'operator',
    params: [idParam],
    ok: { '200': { description: 'the device', content: json(ref('DeviceSummary')) } },
    errors: [...AUTH_ERRORS, ErrorCode.NOT_FOUND],
  },
  {
    method: 'get',
    path: '/api/devices/{id}/readings',
    tag: 'devices',
    summary: 'History, aggregated in the store (or raw, at most maxPoints per series)',
    security: 'operator',
    params: [idParam, ...historyParams()],
    ok: { '200': { description: 'history per metric', content: json(ref('HistoryResponse')) } },
    errors: [...AUTH_ERRORS, ErrorCode.INVALID_DEVICE_ID, ErrorCode.INVALID_REQUEST, ErrorCode.STORE_UNAVAILABLE],
  },
  {
    method: 'get',
    path: '/api/devices/{id}/export',
    tag: 'devices',
    summary: 'History as a CSV or NDJSON file, raw (default) or aggregated, streamed',
    description:
      'Same parameters as the history route, but `bucket` defaults to `raw` and raw exports are not cut at ' +
      'maxPoints. The format is `format=` or else the `Accept` header (`text/csv`, `application/x-ndjson`); CSV ' +
      'by default. See docs/export.md for the columns.',
    security: 'operator',
    params: [
      idParam,
      ...historyParams(),
      { name: 'format', in: 'query', required: false, schema: { type: 'string', enum: ['csv', 'ndjson'] } },
      {
        name: 'include',
        in: 'query',
        required: false,
        schema: { type: 'string', pattern: '^(seq|tags)(,(seq|tags))?$' },
        description: 'raw CSV only: extra columns, `seq` (before the metrics) and/or `tags` (a JSON object, last)',
      },
    ],
    ok: {
      '200': {
        description: 'the file (Content-Disposition: attachment)',
        headers: { 'Content-Disposition': { schema: { type: 'string' } } },
        content: {
          'text/csv': { schema: { type: 'string' } },
          'application/x-ndjson': { schema: { type: 'string' } },
        },
      },
    },
    errors: [
      ...AUTH_ERRORS,
      ErrorCode.INVALID_DEVICE_ID,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.NOT_FOUND,
      ErrorCode.STORE_UNAVAILABLE,
    ],
  },
  {
    method: 'post',
    path: '/api/devices/{id}/readings',
    tag: 'ingest',
    summary: 'Send one reading or a batch `{readings: [...]}` (device token)',
    description: `At most ${LIMITS.maxBatch} readings and ${LIMITS.maxMessageBytes} bytes. 202 once the readings are durable.`,
    security: 'device',
    params: [idParam],
    body: { schema: 'Message' },
    ok: {
      '202': { description: 'accepted (some may be refused, listed in errors)', content: json(ref('IngestResponse')) },
    },
    errors: [
      ...READING_ERRORS,
      ErrorCode.UNAUTHORIZED,
      ErrorCode.FORBIDDEN,
      ErrorCode.RATE_LIMITED,
      ErrorCode.STORE_UNAVAILABLE,
      ErrorCode.SHUTTING_DOWN,
    ],
  },
  {
    method: 'get',
    path: INGEST_PATH,
    tag: 'ingest',
    summary: 'WebSocket ingest (upgrade)',
    description:
      'Upgrade to a WebSocket with the device token (`Authorization: Bearer`). Each text frame is a Message; ' +
      'each is answered `{type:"ack", seq, accepted, errors?}` or `{type:"error", seq, code, message}`. Close ' +
      'codes: 1008 policy (auth), 1009 too big, 1001 going away.',
    security: 'device',
    params: [{ name: 'Upgrade', in: 'header', required: true, schema: { type: 'string', const: 'websocket' } }],
    ok: { '101': { description: 'switching protocols' } },
    errors: [
      ...READING_ERRORS,
      ErrorCode.UNAUTHORIZED,
      ErrorCode.FORBIDDEN,
      ErrorCode.RATE_LIMITED,
      ErrorCode.STORE_UNAVAILABLE,
    ],
  },
  {
    method: 'get',
    path: '/health',
    tag: 'operations',
    summary: 'Readiness (alias /health/ready): 200 ok, else 503 degraded, unavailable or draining',
    security: 'public',
    ok: { '200': { description: 'ready', content: json(ref('Health')) } },
  },
  {
    method: 'get',
    path: '/health/ready',
    tag: 'operations',
    summary: 'Readiness (same as /health)',
    security: 'public',
    ok: { '200': { description: 'ready', content: json(ref('Health')) } },
  },
  {
    method: 'get',
    path: '/health/live',
    tag: 'operations',
    summary: 'Liveness',
    security: 'public',
    ok: { '200': { description: 'alive', content: json({ type: 'object', properties: { status: { const: 'ok' } } }) } },
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics (open unless METRICS_TOKEN is set)',
    security: 'metrics',
    ok: {
      '200': { description: 'exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
    },
    errors: AUTH_ERRORS,
  },
  {
    method: 'post',
    path: BackupPath,
    tag: 'operations',
    summary:
      'Online backup of embedded mode (admin): flushes buffered readings, then copies the state (SQLite) and the ' +
      'readings (DuckDB) into a new directory under BACKUP_DIR (docs/backup.md)',
    security: 'admin',
    body: {
      schema: {
        type: 'object',
        properties: { dir: { type: 'string', description: 'relative to BACKUP_DIR, or absolute inside it' } },
      },
    },
    ok: {
      '201': {
        description: 'the backup directory and its manifest',
        content: json({
          type: 'object',
          properties: {
            dir: { type: 'string' },
            startedAt: { type: 'integer' },
            finishedAt: { type: 'integer' },
            flushed: { type: 'integer', minimum: 0 },
            migrations: { type: 'array', items: { type: 'string' } },
            files: {
              type: 'array',
              items: {
                type: 'object',
                properties: { name: { type: 'string' }, bytes: { type: 'integer', minimum: 0 } },
                required: ['name', 'bytes'],
              },
            },
          },
          required: ['dir', 'startedAt', 'finishedAt', 'flushed', 'migrations', 'files'],
        }),
      },
    },
    errors: [
      ...ADMIN_ERRORS,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.MALFORMED_JSON,
      ErrorCode.CONFLICT,
      ErrorCode.STORE_UNAVAILABLE,
    ],
  },
  lineProtocolWrite(LineProtocolPath.write, false),
  lineProtocolWrite(LineProtocolPath.writeV2, true),
  {
    method: 'get',
    path: LineProtocolPath.ping,
    tag: 'line protocol',
    summary: 'InfluxDB ping (Telegraf and client libraries check it)',
    security: 'public',
    ok: { '204': { description: 'up' } },
  },
  {
    method: 'head',
    path: LineProtocolPath.ping,
    tag: 'line protocol',
    summary: 'InfluxDB ping, HEAD form',
    security: 'public',
    ok: { '204': { description: 'up' } },
  },
  {
    method: 'get',
    path: LineProtocolPath.query,
    tag: 'line protocol',
    summary: 'InfluxDB 1.x query stub, GET form (SHOW DATABASES and the like answer an empty result)',
    security: 'public',
    params: [{ name: 'q', in: 'query', required: false, schema: { type: 'string' } }],
    ok: { '200': { description: 'InfluxDB result envelope', content: json({ type: 'object' }) } },
    influxErrors: [400],
  },
  {
    method: 'post',
    path: LineProtocolPath.query,
    tag: 'line protocol',
    summary: 'InfluxDB 1.x query stub: CREATE DATABASE (Telegraf sends it, `q` in a form body) and SHOW answer empty',
    security: 'public',
    params: [{ name: 'q', in: 'query', required: false, schema: { type: 'string' } }],
    ok: { '200': { description: 'InfluxDB result envelope', content: json({ type: 'object' }) } },
    influxErrors: [400],
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    tag: 'operations',
    summary: 'This document',
    security: 'public',
    ok: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } },
  },
  {
    method: 'get',
    path: '/api/docs',
    tag: 'operations',
    summary: 'Interactive documentation of this document',
    security: 'public',
    ok: { '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
  },
  {
    method: 'post',
    path: '/api/devices/{id}/commands',
    tag: 'commands',
    summary: 'Send a command to a device (operator, admin); queued while the device is offline if persistent',
    description:
      '202 with the command to follow at its Location; with `wait`, 200 once it is final within that many ms. ' +
      'A retried request with the same idempotencyKey answers the first command and sends nothing. See docs/commands.md.',
    security: 'operator',
    params: [
      idParam,
      {
        name: 'wait',
        in: 'query',
        required: false,
        schema: { type: 'integer', minimum: 0, maximum: COMMAND_LIMITS.maxWaitMs },
      },
    ],
    body: { schema: 'CommandRequest' },
    ok: {
      '200': { description: 'final within `wait`', content: json(ref('Command')) },
      '202': {
        description: 'not final yet',
        content: json(ref('Command')),
        headers: { Location: { schema: { type: 'string' } } },
      },
    },
    errors: [
      ...ADMIN_ERRORS,
      ErrorCode.INVALID_DEVICE_ID,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.MALFORMED_JSON,
      ErrorCode.NOT_FOUND,
      ErrorCode.RATE_LIMITED,
    ],
  },
  {
    method: 'get',
    path: '/api/devices/{id}/commands',
    tag: 'commands',
    summary: "A device's commands, newest first",
    security: 'operator',
    params: [
      idParam,
      { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: [...COMMAND_STATUSES] } },
      {
        name: 'limit',
        in: 'query',
        required: false,
        schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      },
    ],
    ok: { '200': { description: 'commands', content: json({ type: 'array', items: ref('Command') }) } },
    errors: [...AUTH_ERRORS, ErrorCode.INVALID_DEVICE_ID, ErrorCode.INVALID_REQUEST],
  },
  {
    method: 'get',
    path: '/api/devices/{id}/commands/{commandId}',
    tag: 'commands',
    summary: 'One command with its status and a time per state',
    security: 'operator',
    params: [idParam, commandIdParam],
    ok: { '200': { description: 'the command', content: json(ref('Command')) } },
    errors: [...AUTH_ERRORS, ErrorCode.NOT_FOUND],
  },
  {
    method: 'post',
    path: '/api/devices/{id}/commands/{commandId}/cancel',
    tag: 'commands',
    summary: 'Cancel a command that is not final (operator, admin); a device that has it may still run it',
    security: 'operator',
    params: [idParam, commandIdParam],
    ok: { '200': { description: 'the cancelled command', content: json(ref('Command')) } },
    errors: [...ADMIN_ERRORS, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT],
  },
  ...ALARM_OPERATIONS,
];

const SECURITY: Record<Security, Json[]> = {
  public: [],
  operator: [{ operatorJwt: [] }],
  admin: [{ operatorJwt: [] }],
  device: [{ deviceToken: [] }],
  metrics: [{}, { metricsToken: [] }, { operatorJwt: [] }],
  influx: [{ deviceToken: [] }, { influxToken: [] }, { influxBasic: [] }],
};

const STATUS_TEXT: Record<number, string> = {
  400: 'invalid request',
  401: 'missing or bad credentials',
  403: 'not allowed',
  404: 'not found',
  409: 'conflict',
  413: 'too large',
  429: 'rate limited (Retry-After)',
  500: 'internal error',
  503: 'unavailable (Retry-After)',
};

/** JSON Schema 2020-12 of a zod schema, without `$schema` (the document's dialect is declared once). */
function toSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

function operation(op: Op): Json {
  const responses: Json = { ...op.ok };
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of op.errors ?? []) {
    const s = HTTP_STATUS_OF[code];
    byStatus.set(s, [...(byStatus.get(s) ?? []), code]);
  }
  if (op.security === 'public' && op.errors === undefined) byStatus.set(500, [ErrorCode.INTERNAL]);
  else byStatus.set(500, [...(byStatus.get(500) ?? []), ErrorCode.INTERNAL]);
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const headers = status === 429 || status === 503 ? { 'Retry-After': { schema: { type: 'integer' } } } : undefined;
    responses[String(status)] = {
      description: `${STATUS_TEXT[status] ?? 'error'}: ${codes.join(', ')}`,
      ...(headers ? { headers } : {}),
      content: json({ allOf: [ref('ErrorBody'), { properties: { code: { enum: codes } } }] }),
    };
  }
  for (const status of op.influxErrors ?? []) {
    responses[String(status)] = { description: STATUS_TEXT[status] ?? 'error', content: json(ref('InfluxError')) };
  }
  const out: Json = {
    operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c?: string) => (c ? c.toUpperCase() : ''))}`,
    tags: [op.tag],
    summary: op.summary,
    security: SECURITY[op.security],
    responses,
  };
  if (op.description) out.description = op.description;
  if (op.params) out.parameters = op.params;
  if (op.body) {
    out.requestBody = {
      required: true,
      ...(op.body.description ? { description: op.body.description } : {}),
      content: {
        [op.body.contentType ?? 'application/json']: {
          schema: typeof op.body.schema === 'string' ? ref(op.body.schema) : op.body.schema,
        },
      },
    };
  }
  if (op.errors) out['x-error-codes'] = op.errors;
  return out;
}

/** The OpenAPI 3.1 document of the gateway, built from contracts' zod schemas and {@link OPERATIONS}. */
export function buildOpenApiDocument(version = '1.0.0'): Json {
  const paths: Record<string, Json> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operation(op);
  const schemas: Json = {};
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    schemas[name] = toSchema(
      schema,
      name === 'ReadingInput' || name === 'Message' || name.endsWith('Request') ? 'input' : 'output',
    );
  }
  (schemas.ErrorCode as Json)['x-http-status'] = HTTP_STATUS_OF;
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Fieldline gateway',
      version,
      description:
        'REST, WebSocket and InfluxDB line-protocol interface of the Fieldline IoT telemetry gateway. Every error ' +
        'answer is `{code, message, details?}` (line-protocol routes: InfluxDB `{error}`); each code has one HTTP ' +
        'status (`ErrorCode` x-http-status). Live data is on Socket.IO namespaces /telemetry, /devices, /alerts.',
    },
    tags: [
      'alarms',
      'audit',
      'auth',
      'device registry',
      'devices',
      'commands',
      'ingest',
      'line protocol',
      'operations',
      'users',
    ].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        operatorJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'from POST /api/auth/login' },
        deviceToken: { type: 'http', scheme: 'bearer', description: "the device's own token" },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when set' },
        influxToken: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: '`Token <device or bridge token>` (InfluxDB 2.x style)',
        },
        influxBasic: { type: 'http', scheme: 'basic', description: 'user = device id or bridge, password = token' },
      },
    },
  };
}

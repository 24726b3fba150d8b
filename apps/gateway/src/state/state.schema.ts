/*
 * The tables of the state store as Kysely sees them: one schema for both engines. Times are epoch ms (`bigint`,
 * read back as numbers on both), free-form maps are JSON text, so that every query is the same SQL on SQLite and
 * PostgreSQL. Migrations (state.migrations.ts) create exactly these.
 */

/** Registered devices. `token_hash` is the SHA-256 of the current token (null: revoked), unique when set. */
export interface DevicesTable {
  device_id: string;
  name: string | null;
  token_hash: string | null;
  created_at: number;
  /** When the current token was issued; null while revoked. */
  token_issued_at: number | null;
  /** Last rotation (a new token replacing one), null before the first. */
  rotated_at: number | null;
  /** Last revocation, null when never revoked (kept after a later rotation, as history). */
  revoked_at: number | null;
  site: string | null;
  model: string | null;
  /** JSON object of free string key-values. */
  tags: string;
  updated_at: number;
}

/** What a metric of a device means: unit, display name, precision, expected range. */
export interface DeviceMetricsTable {
  device_id: string;
  metric: string;
  unit: string | null;
  display_name: string | null;
  /** Decimal places to show. */
  precision: number | null;
  range_min: number | null;
  range_max: number | null;
  updated_at: number;
}

/** One-time imports (e.g. the old devices.json or Redis registry): done once per name, with its count. */
export interface StateImportsTable {
  name: string;
  imported_at: number;
  count: number;
}

/** Operators. `password_hash` is the scrypt PHC string (auth/password.ts); `role` one of OPERATOR_ROLES. */
export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  /** Null while the user may log in. */
  disabled_at: number | null;
  created_at: number;
  updated_at: number;
  /** Access tokens issued before this second are refused (a password change ends every other session). */
  password_changed_at: number;
  /** Reserved for TOTP secrets kept in the store; TOTP_SECRETS from the environment is used today. */
  totp_secret: string | null;
}

/**
 * Refresh tokens, one row per token: a refresh rotates it (the old row gets `rotated_at`, a new row joins the same
 * `family_id`, one login's chain). `token_hash` is the SHA-256 of the opaque token, never the token.
 */
export interface SessionsTable {
  id: string;
  user_id: string;
  family_id: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  /** Set when the token was traded for the next one: presenting it again revokes the family. */
  rotated_at: number | null;
  revoked_at: number | null;
  user_agent: string | null;
  address: string | null;
}

/** The audit log: one row per recorded action (state/audit.log.ts). */
export interface AuditEntriesTable {
  /** Random; with `at` the order of a page. */
  id: string;
  at: number;
  actor: string | null;
  action: string;
  target: string | null;
  from_address: string | null;
  /** 1: done; 0: refused. */
  ok: number;
  /** JSON object, or null. */
  details: string | null;
}

/** Alarm rules, one row per version (an edit adds a row; a delete adds a row with `deleted` = 1). */
export interface AlarmRulesTable {
  rule_id: string;
  version: number;
  /** JSON of the rule's spec (contracts' AlarmRuleSpec). */
  spec: string;
  deleted: number;
  updated_at: number;
  updated_by: string | null;
}

/** Alarm instances; at most one open (pending, active, acknowledged) per rule and device (unique partial index). */
export interface AlarmsTable {
  alarm_id: string;
  rule_id: string;
  rule_version: number;
  device_id: string;
  metric: string;
  state: string;
  severity: string;
  reason: string;
  value: number | null;
  message: string;
  pending_at: number;
  raised_at: number | null;
  cleared_at: number | null;
  closed_at: number | null;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  shelved_until: number | null;
  /** Sequence number of the alarm's last change. */
  seq: number;
}

/** Every change of every alarm, by sequence number: the history, and the `/alerts` backfill (`alarm`: JSON after it). */
export interface AlarmEventsTable {
  seq: number;
  alarm_id: string;
  at: number;
  action: string;
  actor: string | null;
  comment: string | null;
  alarm: string;
}

/** The evaluator's state per rule and device (JSON), saved on every change so a restart resumes it. */
export interface AlarmEvalStateTable {
  rule_id: string;
  device_id: string;
  state: string;
  updated_at: number;
}

/** Notices waiting for (or done with) webhook delivery, by the sequence number of the change they tell. */
export interface AlarmOutboxTable {
  seq: number;
  alarm_id: string;
  /** The JSON body, signed as it is stored. */
  payload: string;
  attempts: number;
  next_at: number;
  delivered_at: number | null;
  last_error: string | null;
}

/**
 * Commands to devices (commands/). `seq` orders a device's commands (posting order); `deadline` is when the current
 * attempt times out (null while not sent). JSON text: `params`, `result`, `error`. Booleans are 0/1.
 */
export interface CommandsTable {
  command_id: string;
  device_id: string;
  seq: number;
  method: string;
  params: string | null;
  one_way: number;
  persistent: number;
  timeout_ms: number;
  retries: number;
  attempts: number;
  expires_at: number;
  idempotency_key: string | null;
  collapse_key: string | null;
  status: string;
  result: string | null;
  error: string | null;
  created_by: string | null;
  created_at: number;
  sent_at: number | null;
  delivered_at: number | null;
  completed_at: number | null;
  deadline: number | null;
  updated_at: number;
}

export interface StateSchema {
  commands: CommandsTable;
  devices: DevicesTable;
  device_metrics: DeviceMetricsTable;
  state_imports: StateImportsTable;
  users: UsersTable;
  sessions: SessionsTable;
  audit_entries: AuditEntriesTable;
  alarm_rules: AlarmRulesTable;
  alarms: AlarmsTable;
  alarm_events: AlarmEventsTable;
  alarm_eval_state: AlarmEvalStateTable;
  alarm_outbox: AlarmOutboxTable;
}

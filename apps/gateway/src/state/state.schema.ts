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
}

import { type Kysely, type Migration, sql } from 'kysely';

/*
 * Versioned migrations, applied in name order at start by Kysely's Migrator (state.store.ts). One definition for
 * both engines: only types that mean the same on SQLite and PostgreSQL (text, integer, bigint, double precision).
 * A released migration is never edited; a change is a new entry at the end.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- a migration runs against the schema as it was then */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_devices': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('devices')
        .addColumn('device_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .addColumn('token_hash', 'text', (c) => c.unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('token_issued_at', 'bigint')
        .addColumn('rotated_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('site', 'text')
        .addColumn('model', 'text')
        .addColumn('tags', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('device_metrics')
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.device_id').onDelete('cascade'))
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('unit', 'text')
        .addColumn('display_name', 'text')
        .addColumn('precision', 'integer')
        .addColumn('range_min', 'double precision')
        .addColumn('range_max', 'double precision')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('device_metrics_pk', ['device_id', 'metric'])
        .execute();
      await db.schema
        .createTable('state_imports')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('imported_at', 'bigint', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .execute();
      await sql`create index devices_site on devices (site)`.execute(db);
    },
  },
  '0002_operators': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('disabled_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
        .addColumn('totp_secret', 'text')
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('rotated_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('user_agent', 'text')
        .addColumn('address', 'text')
        .execute();
      await sql`create index sessions_family on sessions (family_id)`.execute(db);
      await sql`create index sessions_user on sessions (user_id)`.execute(db);
    },
  },
  '0003_audit': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('audit_entries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('from_address', 'text')
        // 0/1: one type on both engines (SQLite has no boolean).
        .addColumn('ok', 'integer', (c) => c.notNull())
        .addColumn('details', 'text')
        .execute();
      // Pages are newest first by (at, id); the filters narrow within a time range.
      await sql`create index audit_entries_at on audit_entries (at, id)`.execute(db);
      await sql`create index audit_entries_actor on audit_entries (actor, at)`.execute(db);
      await sql`create index audit_entries_action on audit_entries (action, at)`.execute(db);
      await sql`create index audit_entries_target on audit_entries (target, at)`.execute(db);
    },
  },
  '0004_alarms': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('alarm_rules')
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_by', 'text')
        .addPrimaryKeyConstraint('alarm_rules_pk', ['rule_id', 'version'])
        .execute();
      await db.schema
        .createTable('alarms')
        .addColumn('alarm_id', 'text', (c) => c.primaryKey())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('rule_version', 'integer', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('value', 'double precision')
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('pending_at', 'bigint', (c) => c.notNull())
        .addColumn('raised_at', 'bigint')
        .addColumn('cleared_at', 'bigint')
        .addColumn('closed_at', 'bigint')
        .addColumn('acknowledged_at', 'bigint')
        .addColumn('acknowledged_by', 'text')
        .addColumn('shelved_until', 'bigint')
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .execute();
      // At most one open alarm per rule and device, whatever the evaluators do: the store refuses a second.
      await sql`create unique index alarms_open on alarms (rule_id, device_id)
        where state in ('pending', 'active', 'acknowledged')`.execute(db);
      await sql`create index alarms_device on alarms (device_id, pending_at)`.execute(db);
      await sql`create index alarms_state on alarms (state, pending_at)`.execute(db);
      await db.schema
        .createTable('alarm_events')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('alarm_id', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('comment', 'text')
        .addColumn('alarm', 'text', (c) => c.notNull())
        .execute();
      await sql`create index alarm_events_alarm on alarm_events (alarm_id, seq)`.execute(db);
      await db.schema
        .createTable('alarm_eval_state')
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('alarm_eval_state_pk', ['rule_id', 'device_id'])
        .execute();
      await db.schema
        .createTable('alarm_outbox')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('alarm_id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_at', 'bigint', (c) => c.notNull())
        .addColumn('delivered_at', 'bigint')
        .addColumn('last_error', 'text')
        .execute();
      await sql`create index alarm_outbox_due on alarm_outbox (next_at) where delivered_at is null`.execute(db);
    },
  },
  '0005_commands': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('commands')
        .addColumn('command_id', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('params', 'text')
        .addColumn('one_way', 'integer', (c) => c.notNull())
        .addColumn('persistent', 'integer', (c) => c.notNull())
        .addColumn('timeout_ms', 'integer', (c) => c.notNull())
        .addColumn('retries', 'integer', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('collapse_key', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('error', 'text')
        .addColumn('created_by', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .addColumn('delivered_at', 'bigint')
        .addColumn('completed_at', 'bigint')
        .addColumn('deadline', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // A retried POST finds the first command by its key: one per device, whatever its status.
      await sql`create unique index commands_idempotency on commands (device_id, idempotency_key)`.execute(db);
      await sql`create index commands_device_seq on commands (device_id, seq)`.execute(db);
      await sql`create index commands_open on commands (status, device_id)`.execute(db);
    },
  },
};
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Names of the migration bookkeeping tables (Kysely's defaults renamed, so they read as ours). */
export const MIGRATION_TABLE = 'state_migration';
export const MIGRATION_LOCK_TABLE = 'state_migration_lock';

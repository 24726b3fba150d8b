import type { Command, CommandStatus } from '@fieldline/contracts';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { CommandsTable, StateSchema } from '../state/state.schema';
import type { CommandChange } from './command.lifecycle';

type Db = Kysely<StateSchema> | Transaction<StateSchema>;
type Row = Selectable<CommandsTable>;

/** Statuses of a command the device may still be working on. */
export const IN_FLIGHT: readonly CommandStatus[] = ['sent', 'delivered'];
/** Statuses that are not final. */
export const OPEN: readonly CommandStatus[] = ['queued', 'sent', 'delivered'];

/** A command row with its current attempt's deadline (not part of the wire shape). */
export interface StoredCommand extends Command {
  seq: number;
  deadline: number | null;
}

/** Commands in the state store: every query the command service makes, one SQL for both engines. */
export class CommandsRepository {
  constructor(private readonly db: Kysely<StateSchema>) {}

  transaction<T>(fn: (trx: Transaction<StateSchema>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async insert(c: StoredCommand, db: Db = this.db): Promise<void> {
    await db.insertInto('commands').values(toRow(c)).execute();
  }

  async get(id: string, db: Db = this.db): Promise<StoredCommand | undefined> {
    const row = await db.selectFrom('commands').selectAll().where('command_id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  }

  async byIdempotencyKey(deviceId: string, key: string, db: Db = this.db): Promise<StoredCommand | undefined> {
    const row = await db
      .selectFrom('commands')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  /** The device's commands, newest first. */
  async list(deviceId: string, status: CommandStatus | undefined, limit: number): Promise<StoredCommand[]> {
    let q = this.db.selectFrom('commands').selectAll().where('device_id', '=', deviceId);
    if (status) q = q.where('status', '=', status);
    const rows = await q.orderBy('seq', 'desc').limit(limit).execute();
    return rows.map(fromRow);
  }

  /** The device's commands in `statuses`, in posting order. */
  async ofDevice(deviceId: string, statuses: readonly CommandStatus[], db: Db = this.db): Promise<StoredCommand[]> {
    const rows = await db
      .selectFrom('commands')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('status', 'in', statuses)
      .orderBy('seq')
      .execute();
    return rows.map(fromRow);
  }

  async countOpen(deviceId: string, db: Db = this.db): Promise<number> {
    const row = await db
      .selectFrom('commands')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('device_id', '=', deviceId)
      .where('status', 'in', OPEN)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async nextSeq(deviceId: string, db: Db): Promise<number> {
    const row = await db
      .selectFrom('commands')
      .select((eb) => eb.fn.max<number | null>('seq').as('s'))
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return Number(row?.s ?? 0) + 1;
  }

  /** Attempts whose deadline passed, and open commands past their expiry. */
  async due(now: number): Promise<{ timedOut: StoredCommand[]; expired: StoredCommand[] }> {
    const timedOut = await this.db
      .selectFrom('commands')
      .selectAll()
      .where('status', 'in', IN_FLIGHT)
      .where('deadline', '<=', now)
      .orderBy('seq')
      .limit(500)
      .execute();
    const expired = await this.db
      .selectFrom('commands')
      .selectAll()
      .where('status', 'in', OPEN)
      .where('expires_at', '<=', now)
      .orderBy('seq')
      .limit(500)
      .execute();
    return { timedOut: timedOut.map(fromRow), expired: expired.map(fromRow) };
  }

  /** Devices with queued commands. */
  async devicesWithQueue(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('commands')
      .select('device_id')
      .distinct()
      .where('status', '=', 'queued')
      .execute();
    return rows.map((r) => r.device_id);
  }

  /** Applies `change` if the command is still `from`; false when someone else changed it first. */
  async apply(id: string, from: CommandStatus, change: CommandChange, db: Db = this.db): Promise<boolean> {
    const set: Partial<CommandsTable> = {};
    if (change.status !== undefined) set.status = change.status;
    if (change.attempts !== undefined) set.attempts = change.attempts;
    if (change.sentAt !== undefined) set.sent_at = change.sentAt;
    if (change.deliveredAt !== undefined) set.delivered_at = change.deliveredAt;
    if (change.completedAt !== undefined) set.completed_at = change.completedAt;
    if (change.result !== undefined) set.result = JSON.stringify(change.result);
    if (change.error !== undefined) set.error = change.error === null ? null : JSON.stringify(change.error);
    if (change.deadline !== undefined) set.deadline = change.deadline;
    if (change.updatedAt !== undefined) set.updated_at = change.updatedAt;
    const res = await db
      .updateTable('commands')
      .set(set)
      .where('command_id', '=', id)
      .where('status', '=', from)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}

/** `cmd` with `change` applied (what the row holds after {@link CommandsRepository.apply}). */
export function applied(cmd: StoredCommand, change: CommandChange): StoredCommand {
  return { ...cmd, ...change };
}

/** The wire shape: without the store's bookkeeping. */
export function publicCommand(c: StoredCommand): Command {
  const { seq: _seq, deadline: _deadline, ...rest } = c;
  return rest;
}

const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

function fromRow(r: Row): StoredCommand {
  return {
    id: r.command_id,
    deviceId: r.device_id,
    seq: Number(r.seq),
    method: r.method,
    params: json(r.params),
    oneWay: r.one_way === 1,
    persistent: r.persistent === 1,
    timeoutMs: r.timeout_ms,
    retries: r.retries,
    attempts: r.attempts,
    expiresAt: Number(r.expires_at),
    idempotencyKey: r.idempotency_key,
    collapseKey: r.collapse_key,
    status: r.status as CommandStatus,
    result: json(r.result),
    error: json(r.error) as Command['error'],
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
    deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
    completedAt: r.completed_at === null ? null : Number(r.completed_at),
    deadline: r.deadline === null ? null : Number(r.deadline),
    updatedAt: Number(r.updated_at),
  };
}

function toRow(c: StoredCommand): CommandsTable {
  return {
    command_id: c.id,
    device_id: c.deviceId,
    seq: c.seq,
    method: c.method,
    params: c.params === undefined ? null : JSON.stringify(c.params),
    one_way: c.oneWay ? 1 : 0,
    persistent: c.persistent ? 1 : 0,
    timeout_ms: c.timeoutMs,
    retries: c.retries,
    attempts: c.attempts,
    expires_at: c.expiresAt,
    idempotency_key: c.idempotencyKey,
    collapse_key: c.collapseKey,
    status: c.status,
    result: c.result === null || c.result === undefined ? null : JSON.stringify(c.result),
    error: c.error === null ? null : JSON.stringify(c.error),
    created_by: c.createdBy,
    created_at: c.createdAt,
    sent_at: c.sentAt,
    delivered_at: c.deliveredAt,
    completed_at: c.completedAt,
    deadline: c.deadline,
    updated_at: c.updatedAt,
  };
}

import {
  type Alarm,
  type AlarmDetail,
  type AlarmEventPayload,
  type AlarmHistoryEntry,
  type AlarmFilter,
  type AlarmRule,
  type AlarmRuleSpec,
  type AlarmState,
  ErrorCode,
  FieldlineError,
  OPEN_ALARM_STATES,
  SEVERITIES,
  type Severity,
  severityRank,
} from '@fieldline/contracts';
import type { Kysely, Selectable } from 'kysely';
import type { AlarmRulesTable, AlarmsTable, StateSchema } from '../state/state.schema';
import type { StateStore } from '../state/state.store';
import type { EvalState } from './alarm.evaluator';

/** One recorded change: what the `/alerts` stream and the alarm's history show. */
export interface AlarmChange {
  seq: number;
  at: number;
  action: string;
  actor: string | null;
  comment?: string;
}

/** The socket event an action is shown as. */
export function eventOf(action: string): AlarmEventPayload['event'] {
  if (action === 'raised') return 'raised';
  if (action === 'cleared' || action === 'closed') return 'cleared';
  return 'updated';
}

/**
 * Rules, alarm instances, their history and the evaluator's state, in the state store (tables of migration
 * 0004_alarms). Written once over Kysely for SQLite and PostgreSQL.
 */
export class AlarmStore {
  constructor(private readonly store: StateStore) {}

  private get db(): Kysely<StateSchema> {
    return this.store.db;
  }

  // --- rules ---

  /** The current version of every rule that is not deleted. */
  async rules(): Promise<AlarmRule[]> {
    const rows = await this.db.selectFrom('alarm_rules').selectAll().orderBy('rule_id').orderBy('version').execute();
    const latest = new Map<string, (typeof rows)[number]>();
    for (const r of rows) latest.set(r.rule_id, r);
    return [...latest.values()].filter((r) => Number(r.deleted) === 0).map(toRule);
  }

  async rule(id: string): Promise<AlarmRule | undefined> {
    const row = await lastVersion(this.db, id);
    return row && Number(row.deleted) === 0 ? toRule(row) : undefined;
  }

  /** Every version, oldest first, deleted ones included (as `enabled: false`); empty when the rule never existed. */
  async versions(id: string): Promise<AlarmRule[]> {
    const rows = await this.db
      .selectFrom('alarm_rules')
      .selectAll()
      .where('rule_id', '=', id)
      .orderBy('version')
      .execute();
    return rows.map(toRule);
  }

  /** Writes a new version. `create`: refused (CONFLICT) when the rule exists; else refused (NOT_FOUND) when it does not. */
  async putRule(
    id: string,
    spec: AlarmRuleSpec,
    actor: string | null,
    now: number,
    create: boolean,
  ): Promise<AlarmRule> {
    return this.store.transaction(async (trx) => {
      const last = await lastVersion(trx, id);
      const exists = last !== undefined && Number(last.deleted) === 0;
      if (create && exists) throw new FieldlineError(ErrorCode.CONFLICT, `rule "${id}" exists`);
      if (!create && !exists) throw new FieldlineError(ErrorCode.NOT_FOUND, `no rule "${id}"`);
      const row = {
        rule_id: id,
        version: (last?.version ?? 0) + 1,
        spec: JSON.stringify(spec),
        deleted: 0,
        updated_at: now,
        updated_by: actor,
      };
      await trx.insertInto('alarm_rules').values(row).execute();
      return toRule(row);
    });
  }

  /** Adds a deleted version; false when there was no rule. */
  async deleteRule(id: string, actor: string | null, now: number): Promise<boolean> {
    return this.store.transaction(async (trx) => {
      const last = await lastVersion(trx, id);
      if (last === undefined || Number(last.deleted) !== 0) return false;
      await trx
        .insertInto('alarm_rules')
        .values({ ...last, version: last.version + 1, deleted: 1, updated_at: now, updated_by: actor })
        .execute();
      return true;
    });
  }

  /** Registered devices with their labels (tag selectors). */
  devices(): Promise<{ device_id: string; site: string | null; model: string | null; tags: string }[]> {
    return this.db.selectFrom('devices').select(['device_id', 'site', 'model', 'tags']).execute();
  }

  // --- evaluator state ---

  async evalStates(): Promise<EvalState[]> {
    const rows = await this.db.selectFrom('alarm_eval_state').select('state').execute();
    return rows.map((r) => JSON.parse(r.state) as EvalState);
  }

  async saveEvalState(s: EvalState, now: number, db: Kysely<StateSchema> = this.db): Promise<void> {
    const state = JSON.stringify(s);
    await db
      .insertInto('alarm_eval_state')
      .values({ rule_id: s.ruleId, device_id: s.deviceId, state, updated_at: now })
      .onConflict((oc) => oc.columns(['rule_id', 'device_id']).doUpdateSet({ state, updated_at: now }))
      .execute();
  }

  async dropEvalState(ruleId: string, deviceId: string): Promise<void> {
    await this.db
      .deleteFrom('alarm_eval_state')
      .where('rule_id', '=', ruleId)
      .where('device_id', '=', deviceId)
      .execute();
  }

  // --- alarms ---

  /**
   * Inserts a new (pending) alarm with the evaluator state that points at it, in one transaction. When the store
   * already holds an open alarm for the rule and device (the unique index), nothing is written and that one is
   * returned: the caller carries on with it.
   */
  async open(alarm: Alarm, state: EvalState, now: number): Promise<Alarm> {
    const existing = await this.openFor(alarm.ruleId, alarm.deviceId);
    if (existing) return existing;
    try {
      await this.store.transaction(async (trx) => {
        await trx.insertInto('alarms').values(toRow(alarm)).execute();
        await this.saveEvalState(state, now, trx);
      });
      return alarm;
    } catch (err) {
      const raced = await this.openFor(alarm.ruleId, alarm.deviceId);
      if (raced) return raced;
      throw err;
    }
  }

  async openFor(ruleId: string, deviceId: string): Promise<Alarm | undefined> {
    const row = await this.db
      .selectFrom('alarms')
      .selectAll()
      .where('rule_id', '=', ruleId)
      .where('device_id', '=', deviceId)
      .where('state', 'in', OPEN_ALARM_STATES)
      .executeTakeFirst();
    return row && toAlarm(row);
  }

  /** Writes the alarm as it is after `change`, the change itself, and (when given) the evaluator state: atomically. */
  async record(
    alarm: Alarm,
    change: AlarmChange | null,
    state: EvalState | null,
    now: number,
    notice: string | null = null,
  ): Promise<void> {
    await this.store.transaction(async (trx) => {
      // The notice is written with the change it tells: a crash loses both or neither.
      if (notice !== null && change)
        await trx
          .insertInto('alarm_outbox')
          .values({ seq: change.seq, alarm_id: alarm.id, payload: notice, attempts: 0, next_at: now })
          .execute();
      const { alarm_id, ...rest } = toRow(alarm);
      await trx.updateTable('alarms').set(rest).where('alarm_id', '=', alarm_id).execute();
      if (change)
        await trx
          .insertInto('alarm_events')
          .values({
            seq: change.seq,
            alarm_id,
            at: change.at,
            action: change.action,
            actor: change.actor,
            comment: change.comment ?? null,
            alarm: JSON.stringify(alarm),
          })
          .execute();
      if (state) await this.saveEvalState(state, now, trx);
    });
  }

  /** A pending alarm whose condition went away before `for` elapsed: nobody saw it, so it is not kept. */
  async discard(alarmId: string, state: EvalState, now: number): Promise<void> {
    await this.store.transaction(async (trx) => {
      await trx.deleteFrom('alarms').where('alarm_id', '=', alarmId).where('state', '=', 'pending').execute();
      await this.saveEvalState(state, now, trx);
    });
  }

  async alarm(id: string): Promise<Alarm | undefined> {
    const row = await this.db.selectFrom('alarms').selectAll().where('alarm_id', '=', id).executeTakeFirst();
    return row && toAlarm(row);
  }

  async detail(id: string): Promise<AlarmDetail | undefined> {
    const alarm = await this.alarm(id);
    if (!alarm) return undefined;
    const rows = await this.db
      .selectFrom('alarm_events')
      .selectAll()
      .where('alarm_id', '=', id)
      .orderBy('seq')
      .execute();
    const history = rows.map((r): AlarmHistoryEntry => {
      const after = JSON.parse(r.alarm) as Alarm;
      return {
        seq: Number(r.seq),
        at: Number(r.at),
        action: r.action,
        actor: r.actor,
        severity: after.severity,
        state: after.state,
        ...(r.comment !== null ? { comment: r.comment } : {}),
      };
    });
    return { ...alarm, history };
  }

  /** Newest first. */
  async list(q: AlarmFilter): Promise<Alarm[]> {
    let query = this.db.selectFrom('alarms').selectAll();
    if (q.state === 'open') query = query.where('state', 'in', OPEN_ALARM_STATES);
    else if (q.state !== undefined) query = query.where('state', '=', q.state);
    if (q.severity !== undefined) query = query.where('severity', 'in', SEVERITIES.slice(severityRank(q.severity)));
    if (q.device !== undefined) query = query.where('device_id', '=', q.device);
    if (q.rule !== undefined) query = query.where('rule_id', '=', q.rule);
    if (q.from !== undefined) query = query.where('pending_at', '>=', q.from);
    if (q.to !== undefined) query = query.where('pending_at', '<', q.to);
    const rows = await query.orderBy('pending_at', 'desc').orderBy('alarm_id').limit(q.limit).execute();
    return rows.map(toAlarm);
  }

  /** Alarms not closed, pending included (for the gauges and the evaluator's start). */
  async unclosed(): Promise<Alarm[]> {
    const rows = await this.db.selectFrom('alarms').selectAll().where('state', '!=', 'closed').execute();
    return rows.map(toAlarm);
  }

  /** Changes with `seq > since`, oldest first, at most `limit`; `truncated` when more (older) ones were left out. */
  async changesSince(since: number, limit: number): Promise<{ changes: AlarmEventPayload[]; truncated: boolean }> {
    const rows = await this.db
      .selectFrom('alarm_events')
      .select(['seq', 'action', 'alarm'])
      .where('seq', '>', since)
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
    const truncated = rows.length > limit;
    const changes = rows
      .slice(0, limit)
      .reverse()
      .map((r) => ({ seq: Number(r.seq), event: eventOf(r.action), alarm: JSON.parse(r.alarm) as Alarm }));
    return { changes, truncated };
  }

  async lastSeq(): Promise<number> {
    const row = await this.db
      .selectFrom('alarm_events')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst();
    const events = Number(row?.seq ?? 0);
    const alarms = await this.db
      .selectFrom('alarms')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst();
    return Math.max(events, Number(alarms?.seq ?? 0));
  }
}

/** A rule's newest version row, deleted or not. */
function lastVersion(db: Kysely<StateSchema>, id: string): Promise<Selectable<AlarmRulesTable> | undefined> {
  return db
    .selectFrom('alarm_rules')
    .selectAll()
    .where('rule_id', '=', id)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}

function toRule(row: Selectable<AlarmRulesTable>): AlarmRule {
  const spec = JSON.parse(row.spec) as AlarmRuleSpec;
  return {
    ...spec,
    ...(Number(row.deleted) !== 0 ? { enabled: false } : {}),
    id: row.rule_id,
    version: Number(row.version),
    updatedAt: Number(row.updated_at),
    updatedBy: row.updated_by,
  };
}

function toRow(a: Alarm): AlarmsTable {
  return {
    alarm_id: a.id,
    rule_id: a.ruleId,
    rule_version: a.ruleVersion,
    device_id: a.deviceId,
    metric: a.metric,
    state: a.state,
    severity: a.severity,
    reason: a.reason,
    value: a.value,
    message: a.message,
    pending_at: a.pendingAt,
    raised_at: a.raisedAt,
    cleared_at: a.clearedAt,
    closed_at: a.closedAt,
    acknowledged_at: a.acknowledgedAt,
    acknowledged_by: a.acknowledgedBy,
    shelved_until: a.shelvedUntil,
    seq: a.seq,
  };
}

const num = (v: number | null): number | null => (v === null ? null : Number(v));

function toAlarm(r: Selectable<AlarmsTable>): Alarm {
  return {
    id: r.alarm_id,
    ruleId: r.rule_id,
    ruleVersion: Number(r.rule_version),
    deviceId: r.device_id,
    metric: r.metric,
    state: r.state as AlarmState,
    severity: r.severity as Severity,
    reason: r.reason as Alarm['reason'],
    value: r.value,
    message: r.message,
    pendingAt: Number(r.pending_at),
    raisedAt: num(r.raised_at),
    clearedAt: num(r.cleared_at),
    closedAt: num(r.closed_at),
    acknowledgedAt: num(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by,
    shelvedUntil: num(r.shelved_until),
    seq: Number(r.seq),
  };
}

import { randomUUID } from 'node:crypto';
import type { Insertable, Transaction } from 'kysely';
import { AUDIT_FIELD_MAX, type AuditPage, type AuditQuery, type AuditRecord, auditCursor } from '@fieldline/contracts';
import type { AuditEntry, AuditSink } from './audit.sink';
import type { AuditEntriesTable, StateSchema } from './state.schema';
import type { StateStore } from './state.store';

/** Longest `details` JSON kept; a longer one is replaced by a note saying so. */
const MAX_DETAILS_CHARS = 4096;
/** Entries waiting for their write at most: past it, refusals (which changed nothing) are dropped and counted. */
const MAX_PENDING = 5000;
/** Rows in one INSERT at most (8 parameters each, well under SQLite's limit). */
const MAX_BATCH = 500;

/** C0, DEL, C1 controls, line/paragraph separators and bidi overrides: what could forge or hide a line in a log view. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** A field as the log keeps it: unsafe characters written as `\uXXXX`, then cut to {@link AUDIT_FIELD_MAX}. */
export function auditText(value: string): string;
export function auditText(value: string | null | undefined): string | null;
export function auditText(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const escaped = value.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > AUDIT_FIELD_MAX ? `${escaped.slice(0, AUDIT_FIELD_MAX - 1)}…` : escaped;
}

export interface AuditLogOptions {
  /** Entries older than this are deleted by {@link AuditLog.purge}. */
  retentionMs: number;
  /** How often {@link AuditLog.start} purges. */
  purgeEveryMs?: number;
  now?: () => number;
  /** Where an entry goes when the database refuses it, so that it is not lost without a trace. */
  log?: { error(message: string, fields?: Record<string, unknown>): void };
}

interface Pending {
  row: Insertable<AuditEntriesTable>;
  done: () => void;
}

/**
 * The audit log in the state store (SQLite or PostgreSQL): who did what, when, from where, and whether it went
 * through. A change that is itself a state-store write records its entry in the same transaction
 * ({@link recordIn}): the entry exists exactly when the change does. Everything else ({@link record}: logins,
 * unlocks) is written right after, batched: entries that arrive together share one INSERT, so a flood of failed
 * logins costs one commit per batch, and past {@link MAX_PENDING} waiting entries refusals are dropped (counted)
 * rather than queued without bound. Nothing on the reading path is audited.
 */
export class AuditLog implements AuditSink {
  /** Entries written, dropped (flood of refusals), and lost to a database error (logged instead). */
  readonly counts = { recorded: 0, dropped: 0, failed: 0 };
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(
    private readonly state: StateStore,
    private readonly opts: AuditLogOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Writes the entry soon after (batched with others); resolves once it is stored. Never rejects. */
  record(entry: AuditEntry): Promise<void> {
    if (this.pending.length >= MAX_PENDING && !entry.ok) {
      this.counts.dropped++;
      return Promise.resolve();
    }
    return new Promise<void>((done) => {
      this.pending.push({ row: this.rowOf(entry), done });
      this.flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
    });
  }

  /** Writes the entry in `trx`: it commits or rolls back with the change it records. */
  async recordIn(trx: Transaction<StateSchema>, entry: AuditEntry): Promise<void> {
    await trx.insertInto('audit_entries').values(this.rowOf(entry)).execute();
    this.counts.recorded++;
  }

  /** A page of entries matching `q`, newest first. */
  async query(q: AuditQuery): Promise<AuditPage> {
    let s = this.state.db.selectFrom('audit_entries').selectAll();
    if (q.from !== undefined) s = s.where('at', '>=', q.from);
    if (q.to !== undefined) s = s.where('at', '<', q.to);
    if (q.actor !== undefined) s = s.where('actor', '=', q.actor);
    if (q.target !== undefined) s = s.where('target', '=', q.target);
    if (q.ok !== undefined) s = s.where('ok', '=', q.ok ? 1 : 0);
    const prefix = q.action;
    // substr, not LIKE: exact and case-sensitive on both engines, and `_` or `%` in a prefix mean themselves.
    if (prefix !== undefined)
      s = s.where((eb) => eb(eb.fn('substr', ['action', eb.val(1), eb.val(prefix.length)]), '=', prefix));
    const after = q.after;
    if (after !== undefined)
      s = s.where((eb) => eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]));
    const rows = await s
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    const entries: AuditRecord[] = rows.slice(0, q.limit).map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      target: r.target,
      from: r.from_address,
      ok: r.ok === 1,
      details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
    }));
    const last = entries.at(-1);
    return { entries, nextCursor: rows.length > q.limit && last ? auditCursor(last) : null };
  }

  /** Deletes the entries past the retention; resolves how many. Idempotent: several nodes may run it at once. */
  async purge(): Promise<number> {
    const res = await this.state.db
      .deleteFrom('audit_entries')
      .where('at', '<', this.now() - this.opts.retentionMs)
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  /** Purges now and then every `purgeEveryMs` (default an hour); a failed purge is logged and tried next time. */
  start(): void {
    const every = this.opts.purgeEveryMs ?? 3_600_000;
    const run = (): void => {
      this.purge().catch((err: unknown) => this.opts.log?.error('audit log: purge failed', { err: String(err) }));
    };
    run();
    this.timer = setInterval(run, every);
    this.timer.unref();
  }

  /** Stops purging and writes what is pending (before the state store closes). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.flushing) await this.flushing;
  }

  /** Nest closes it with the app, before the lifecycle closes the state store. */
  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_BATCH);
      try {
        await this.state.db
          .insertInto('audit_entries')
          .values(batch.map((p) => p.row))
          .execute();
        this.counts.recorded += batch.length;
      } catch (err) {
        // The change (if any) is done; the entry survives in the log rather than nowhere.
        this.counts.failed += batch.length;
        for (const p of batch) this.opts.log?.error('audit log: entry not stored', { err: String(err), ...p.row });
      }
      for (const p of batch) p.done();
    }
    this.flushing = null;
  }

  private rowOf(e: AuditEntry): Insertable<AuditEntriesTable> {
    let details = e.details === undefined ? null : JSON.stringify(e.details);
    if (details !== null && details.length > MAX_DETAILS_CHARS)
      details = JSON.stringify({ truncated: true, chars: details.length });
    return {
      id: randomUUID(),
      at: this.now(),
      actor: auditText(e.actor),
      action: auditText(e.action),
      target: auditText(e.target),
      from_address: auditText(e.from),
      ok: e.ok ? 1 : 0,
      details,
    };
  }
}

import { ErrorCode, FieldlineError } from './errors';
import { parseTime, RestRoute } from './rest';

/*
 * The audit log's wire strings and query rules, free of zod so that the dashboard can import them (deep import
 * `@fieldline/contracts/audit`) without the schema library; the answer's schemas are in audit.schema.ts.
 */

/** REST path of the audit log: `GET` (admin) → {@link AuditPage}, newest first. */
export const AUDIT_PATH = RestRoute.audit;

/**
 * What the audit log records, as dotted names (`<subject>.<verb>`): a filter by prefix (`device.`, `auth.`) selects
 * a subject. Later subjects (users, rules, alarms, commands) add theirs here.
 */
export const AuditAction = {
  /** An operator login, successful or refused (the claimed user name as actor). */
  login: 'auth.login',
  /** An admin cleared a user name's failed-login delay. */
  unlock: 'auth.unlock',
  /** A device was registered (its first token issued). */
  deviceRegister: 'device.register',
  /** A device's labels or metric metadata were replaced. */
  deviceMeta: 'device.meta',
  /** A device token was rotated. */
  tokenRotate: 'token.rotate',
  /** A device token was revoked. */
  tokenRevoke: 'token.revoke',
  /** A command was posted to a device (target: the device; details: command id, method, whether it was new). */
  commandSend: 'command.send',
  /** A command was cancelled. */
  commandCancel: 'command.cancel',
} as const;
/** One of {@link AuditAction}'s values (or a later subject's). */
export type AuditActionName = (typeof AuditAction)[keyof typeof AuditAction];

/** Entries in one page at most, and by default. */
export const AUDIT_PAGE_MAX = 500;
export const AUDIT_PAGE_DEFAULT = 100;
/** Longest actor, target and action the log keeps (longer ones are cut, so a made-up user name stays bounded). */
export const AUDIT_FIELD_MAX = 128;

/** Query parameters of `GET /api/audit`, as received. */
export interface AuditParams {
  /** Epoch ms or ISO-8601, inclusive. */
  from?: string;
  /** Epoch ms or ISO-8601, exclusive. */
  to?: string;
  actor?: string;
  /** Prefix of the action: `device.` selects every device action, `auth.login` one action. */
  action?: string;
  target?: string;
  ok?: string;
  limit?: string;
  cursor?: string;
}

/** {@link AuditParams} checked. */
export interface AuditQuery {
  from?: number;
  to?: number;
  actor?: string;
  action?: string;
  target?: string;
  ok?: boolean;
  limit: number;
  /** Entries strictly older than this position (the last entry of the previous page). */
  after?: { at: number; id: string };
}

/** The query parameters `GET /api/audit` takes, in order. */
export const AUDIT_QUERY_PARAMS = ['from', 'to', 'actor', 'action', 'target', 'ok', 'limit', 'cursor'] as const;

const bad = (param: string, message: string): FieldlineError =>
  new FieldlineError(ErrorCode.INVALID_REQUEST, message, { param });

/** The cursor of the page after the one ending with `last`. */
export function auditCursor(last: { at: number; id: string }): string {
  return `${last.at}.${last.id}`;
}

function text(p: AuditParams, name: 'actor' | 'action' | 'target'): string | undefined {
  const v = p[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || v.length > AUDIT_FIELD_MAX)
    throw bad(name, `${name} must be a string of at most ${AUDIT_FIELD_MAX} characters`);
  return v;
}

/** Checks the query of `GET /api/audit`; an invalid parameter is an INVALID_REQUEST naming it. */
export function parseAuditParams(p: AuditParams): AuditQuery {
  const q: AuditQuery = { limit: AUDIT_PAGE_DEFAULT };
  if (p.from !== undefined && p.from !== '') q.from = parseTime(p.from, 0, 'from');
  if (p.to !== undefined && p.to !== '') q.to = parseTime(p.to, 0, 'to');
  const actor = text(p, 'actor');
  const action = text(p, 'action');
  const target = text(p, 'target');
  if (actor !== undefined) q.actor = actor;
  if (action !== undefined) q.action = action;
  if (target !== undefined) q.target = target;
  if (p.ok !== undefined && p.ok !== '') {
    if (p.ok !== 'true' && p.ok !== 'false') throw bad('ok', 'ok must be true or false');
    q.ok = p.ok === 'true';
  }
  if (p.limit !== undefined && p.limit !== '') {
    const n = /^\d{1,4}$/.test(p.limit) ? Number(p.limit) : NaN;
    if (!(n >= 1 && n <= AUDIT_PAGE_MAX)) throw bad('limit', `limit must be an integer from 1 to ${AUDIT_PAGE_MAX}`);
    q.limit = n;
  }
  if (p.cursor !== undefined && p.cursor !== '') {
    const m = typeof p.cursor === 'string' ? /^(\d{1,16})\.([A-Za-z0-9-]{1,64})$/.exec(p.cursor) : null;
    if (!m) throw bad('cursor', 'cursor must be a nextCursor of an earlier page');
    q.after = { at: Number(m[1]), id: m[2] };
  }
  return q;
}

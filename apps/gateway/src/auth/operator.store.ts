import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { ErrorCode, errorMessage, FieldlineError, type OperatorRole, type OperatorUser } from '@fieldline/contracts';
import { logger } from '../common/logger';
import type { SessionsTable, UsersTable, StateSchema } from '../state/state.schema';
import type { StateStore } from '../state/state.store';
import type { Transaction } from 'kysely';

/** A user as the store keeps it: {@link OperatorUser} with its id and password hash. */
export interface StoredUser {
  id: string;
  username: string;
  role: OperatorRole;
  passwordHash: string;
  disabledAt: number | null;
  createdAt: number;
  updatedAt: number;
  passwordChangedAt: number;
}

/** What a session remembers of where it was opened. */
export interface SessionOrigin {
  userAgent?: string | null;
  address?: string | null;
}

/** A refresh token as handed to the client, with the session it belongs to. */
export interface IssuedRefresh {
  token: string;
  familyId: string;
  expiresAt: number;
}

/** What trading a refresh token gave. */
export type RotateResult =
  | { kind: 'rotated'; user: StoredUser; refresh: IssuedRefresh }
  /** The token had been traded before: its whole family is revoked now. */
  | { kind: 'reused'; user: StoredUser | null; familyId: string }
  | { kind: 'invalid' };

/**
 * Runs a store call; a driver error (the database unreachable, a lost connection) becomes STORE_UNAVAILABLE (503),
 * so that an admin change or a login is refused clearly and the client may retry. Each change is one statement or
 * one transaction: a failed one leaves nothing half-written.
 */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FieldlineError) throw err;
    // The cause goes to the log, not to the client: it names hosts and ports.
    log.warn(`state store call failed: ${errorMessage(err)}`);
    throw new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'the state store is unavailable; retry later');
  }
}

const log = logger('OperatorStore');

/** SHA-256 of a refresh token: what the store keeps, so that a leaked table holds no usable token. */
export const refreshTokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

function userOf(r: Selectable<UsersTable>): StoredUser {
  return {
    id: r.id,
    username: r.username,
    role: r.role as OperatorRole,
    passwordHash: r.password_hash,
    disabledAt: r.disabled_at === null ? null : Number(r.disabled_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    passwordChangedAt: Number(r.password_changed_at),
  };
}

/** The public view of a stored user. */
export function publicUser(u: StoredUser, totp: boolean): OperatorUser {
  return {
    username: u.username,
    role: u.role,
    disabledAt: u.disabledAt,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    passwordChangedAt: u.passwordChangedAt,
    totp,
  };
}

/**
 * Operators and their refresh-token sessions in the state store (SQLite or PostgreSQL), the same for every node.
 * Only admin changes, logins and refreshes come here: access tokens are checked against {@link OperatorAuth}'s
 * copy of the users, which peers refresh when told of a change.
 */
export class OperatorStore {
  constructor(
    private readonly state: StateStore,
    private readonly now: () => number = Date.now,
  ) {}

  list(): Promise<StoredUser[]> {
    return guarded(async () => {
      const rows = await this.state.db.selectFrom('users').selectAll().orderBy('username').execute();
      return rows.map(userOf);
    });
  }

  find(username: string): Promise<StoredUser | null> {
    return guarded(async () => {
      const row = await this.state.db
        .selectFrom('users')
        .selectAll()
        .where('username', '=', username)
        .executeTakeFirst();
      return row ? userOf(row) : null;
    });
  }

  /** Adds a user; null when the name is taken (by this node or another). */
  create(user: { username: string; role: OperatorRole; passwordHash: string }): Promise<StoredUser | null> {
    return guarded(async () => {
      const at = this.now();
      const res = await this.state.db
        .insertInto('users')
        .values({
          id: randomUUID(),
          username: user.username,
          password_hash: user.passwordHash,
          role: user.role,
          disabled_at: null,
          created_at: at,
          updated_at: at,
          password_changed_at: at,
          totp_secret: null,
        })
        .onConflict((oc) => oc.column('username').doNothing())
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) return null;
      return this.find(user.username);
    });
  }

  /**
   * Changes a user; null when there is none. A disabled user's sessions end with the change, and so do the other
   * sessions of a user whose password changes (all of them unless `keepFamily` names the caller's own).
   */
  update(
    username: string,
    change: { role?: OperatorRole; disabled?: boolean; passwordHash?: string },
    keepFamily?: string,
  ): Promise<StoredUser | null> {
    return guarded(async () => {
      return this.state.transaction(async (trx) => {
        const row = await trx.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
        if (!row) return null;
        const at = Math.max(this.now(), Number(row.updated_at));
        const set: Partial<UsersTable> = { updated_at: at };
        if (change.role !== undefined) set.role = change.role;
        if (change.disabled !== undefined) set.disabled_at = change.disabled ? (row.disabled_at ?? at) : null;
        if (change.passwordHash !== undefined) {
          set.password_hash = change.passwordHash;
          set.password_changed_at = at;
        }
        await trx.updateTable('users').set(set).where('id', '=', row.id).execute();
        if (change.disabled === true || change.passwordHash !== undefined)
          await this.revokeWhere(trx, row.id, keepFamily, at);
        return userOf({ ...row, ...set });
      });
    });
  }

  /** Removes a user and its sessions; false when there was none. */
  delete(username: string): Promise<boolean> {
    return guarded(async () => {
      const res = await this.state.db.deleteFrom('users').where('username', '=', username).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    });
  }

  /** Starts a session (a login): a new refresh-token family. */
  openSession(user: StoredUser, ttlMs: number, origin: SessionOrigin = {}): Promise<IssuedRefresh> {
    return guarded(async () => {
      return this.insertSession(this.state.db, user.id, randomUUID(), ttlMs, origin);
    });
  }

  /**
   * Trades a refresh token for the next one of its family, once: the token is claimed by a conditional update, so
   * two nodes racing with the same token cannot both win. A token traded before revokes its family. A session of a
   * disabled user, an expired or revoked one is `invalid`.
   */
  rotate(token: string, ttlMs: number, origin: SessionOrigin = {}): Promise<RotateResult> {
    return guarded(async () => {
      const hash = refreshTokenHash(token);
      return this.state.transaction(async (trx) => {
        const at = this.now();
        const claimed = await trx
          .updateTable('sessions')
          .set({ rotated_at: at })
          .where('token_hash', '=', hash)
          .where('rotated_at', 'is', null)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', at)
          .returning(['user_id', 'family_id'])
          .executeTakeFirst();
        if (!claimed) {
          const row = await trx.selectFrom('sessions').selectAll().where('token_hash', '=', hash).executeTakeFirst();
          if (!row || row.rotated_at === null) return { kind: 'invalid' };
          await this.revokeFamilyIn(trx, row.family_id, at);
          const owner = await trx.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst();
          return { kind: 'reused', familyId: row.family_id, user: owner ? userOf(owner) : null };
        }
        const owner = await trx.selectFrom('users').selectAll().where('id', '=', claimed.user_id).executeTakeFirst();
        if (!owner || owner.disabled_at !== null) return { kind: 'invalid' };
        const refresh = await this.insertSession(trx, claimed.user_id, claimed.family_id, ttlMs, origin);
        return { kind: 'rotated', user: userOf(owner), refresh };
      });
    });
  }

  /** Ends the session a refresh token belongs to (its whole family); answers its user, or null if unknown. */
  revoke(token: string): Promise<{ user: StoredUser; familyId: string } | null> {
    return guarded(async () => {
      const hash = refreshTokenHash(token);
      return this.state.transaction(async (trx) => {
        const row = await trx.selectFrom('sessions').selectAll().where('token_hash', '=', hash).executeTakeFirst();
        if (!row) return null;
        await this.revokeFamilyIn(trx, row.family_id, this.now());
        const owner = await trx.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst();
        return owner ? { user: userOf(owner), familyId: row.family_id } : null;
      });
    });
  }

  /** Is this session (refresh-token family) still open? */
  sessionOpen(familyId: string): Promise<boolean> {
    return guarded(async () => {
      const row = await this.state.db
        .selectFrom('sessions')
        .select('id')
        .where('family_id', '=', familyId)
        .where('revoked_at', 'is', null)
        .where('rotated_at', 'is', null)
        .where('expires_at', '>', this.now())
        .executeTakeFirst();
      return row !== undefined;
    });
  }

  /** Open sessions of a user (refresh tokens neither traded, revoked nor expired). */
  openSessions(username: string): Promise<number> {
    return guarded(async () => {
      const row = await this.state.db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('users.username', '=', username)
        .where('sessions.revoked_at', 'is', null)
        .where('sessions.rotated_at', 'is', null)
        .where('sessions.expires_at', '>', this.now())
        .executeTakeFirstOrThrow();
      return Number(row.n);
    });
  }

  /** Forgets sessions that expired before `before` (epoch ms); answers how many. */
  pruneSessions(before: number): Promise<number> {
    return guarded(async () => {
      const res = await this.state.db.deleteFrom('sessions').where('expires_at', '<', before).executeTakeFirst();
      return Number(res.numDeletedRows);
    });
  }

  private async insertSession(
    db: Transaction<StateSchema> | StateStore['db'],
    userId: string,
    familyId: string,
    ttlMs: number,
    origin: SessionOrigin,
  ): Promise<IssuedRefresh> {
    const token = randomBytes(32).toString('base64url');
    const at = this.now();
    const row: Selectable<SessionsTable> = {
      id: randomUUID(),
      user_id: userId,
      family_id: familyId,
      token_hash: refreshTokenHash(token),
      created_at: at,
      expires_at: at + ttlMs,
      rotated_at: null,
      revoked_at: null,
      user_agent: origin.userAgent?.slice(0, 256) ?? null,
      address: origin.address?.slice(0, 64) ?? null,
    };
    await db.insertInto('sessions').values(row).execute();
    return { token, familyId, expiresAt: row.expires_at };
  }

  private async revokeFamilyIn(trx: Transaction<StateSchema>, familyId: string, at: number): Promise<void> {
    await trx
      .updateTable('sessions')
      .set({ revoked_at: at })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  private async revokeWhere(
    trx: Transaction<StateSchema>,
    userId: string,
    keepFamily: string | undefined,
    at: number,
  ): Promise<void> {
    let q = trx.updateTable('sessions').set({ revoked_at: at }).where('user_id', '=', userId);
    if (keepFamily !== undefined) q = q.where('family_id', '!=', keepFamily);
    await q.where('revoked_at', 'is', null).execute();
  }
}

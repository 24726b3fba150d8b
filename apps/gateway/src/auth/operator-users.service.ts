import { randomBytes } from 'node:crypto';
import {
  type ChangePasswordRequest,
  type CreateUserRequest,
  ErrorCode,
  FieldlineError,
  type LoginResponse,
  MIN_OPERATOR_PASSWORD_LENGTH,
  type NewPasswordResponse,
  OPERATOR_ROLES,
  OPERATOR_USERNAME_PATTERN,
  type OperatorRole,
  type OperatorUser,
  type UpdateUserRequest,
  UserAuditAction,
} from '@fieldline/contracts';
import type { AuditSink } from '../state/audit.sink';
import type { OperatorAuth } from './operator-auth.service';
import { publicUser, type StoredUser } from './operator.store';
import { hashPassword } from './password';

/** Who asks for a change, and from where (for the audit log). */
export interface Actor {
  username: string;
  from?: string;
  userAgent?: string;
}

const MAX_PASSWORD_LENGTH = 1024;

type Body = Record<string, unknown>;
const bodyOf = (body: unknown): Body => (typeof body === 'object' && body !== null ? (body as Body) : {});

function roleOf(value: unknown): OperatorRole {
  if (typeof value !== 'string' || !(OPERATOR_ROLES as readonly string[]).includes(value))
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `"role" must be one of ${OPERATOR_ROLES.join(', ')}`);
  return value as OperatorRole;
}

function passwordOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length < MIN_OPERATOR_PASSWORD_LENGTH || value.length > MAX_PASSWORD_LENGTH)
    throw new FieldlineError(
      ErrorCode.INVALID_REQUEST,
      `"${field}" must be a string of ${MIN_OPERATOR_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`,
    );
  return value;
}

/** A generated password: 18 random bytes, 24 URL-safe characters, shown to the admin once. */
const generatedPassword = (): string => randomBytes(18).toString('base64url');

/**
 * User management (admin REST) and a user's own password change. Each change goes to the store, then to
 * {@link OperatorAuth} (its copy, the other nodes, the user's sockets), then to the audit log. The last enabled
 * admin cannot be disabled, demoted or removed, so that a gateway always has someone who can manage it.
 */
export class OperatorUsers {
  constructor(
    private readonly auth: OperatorAuth,
    private readonly audit: AuditSink,
  ) {}

  async list(): Promise<OperatorUser[]> {
    return (await this.auth.store.list()).map((u) => this.view(u));
  }

  async create(actor: Actor, body: unknown): Promise<NewPasswordResponse> {
    const b = bodyOf(body) as Partial<Record<keyof CreateUserRequest, unknown>>;
    const username = b.username;
    if (typeof username !== 'string' || !OPERATOR_USERNAME_PATTERN.test(username))
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, '"username" must be 1–64 characters of A-Z a-z 0-9 _ . @ -');
    const role = roleOf(b.role);
    const generated = b.password === undefined ? generatedPassword() : undefined;
    const password = generated ?? passwordOf(b.password, 'password');
    const created = await this.auth.store.create({ username, role, passwordHash: await hashPassword(password) });
    if (!created) {
      await this.record(actor, UserAuditAction.create, username, false, { reason: 'exists' });
      throw new FieldlineError(ErrorCode.CONFLICT, `user "${username}" exists`);
    }
    await this.auth.changed(username);
    await this.record(actor, UserAuditAction.create, username, true, { role });
    return generated === undefined ? { user: this.view(created) } : { user: this.view(created), password: generated };
  }

  /** Changes a user's role and/or disables or enables it. */
  async update(actor: Actor, username: string, body: unknown): Promise<OperatorUser> {
    const b = bodyOf(body) as Partial<Record<keyof UpdateUserRequest, unknown>>;
    const role = b.role === undefined ? undefined : roleOf(b.role);
    if (b.disabled !== undefined && typeof b.disabled !== 'boolean')
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, '"disabled" must be true or false');
    const disabled = b.disabled;
    if (role === undefined && disabled === undefined)
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'body must have "role" and/or "disabled"');
    const before = await this.existing(username);
    if ((role !== undefined && role !== 'admin') || disabled === true) await this.keepAnAdmin(before);
    const after = (await this.auth.store.update(username, { role, disabled }))!;
    await this.auth.changed(username);
    if (role !== undefined && role !== before.role)
      await this.record(actor, UserAuditAction.role, username, true, { from: before.role, to: role });
    if (disabled !== undefined && disabled !== (before.disabledAt !== null))
      await this.record(actor, disabled ? UserAuditAction.disable : UserAuditAction.enable, username, true);
    return this.view(after);
  }

  /** Sets a user's password (or a generated one, answered once); every session of the user ends. */
  async resetPassword(actor: Actor, username: string, body: unknown): Promise<NewPasswordResponse> {
    const b = bodyOf(body);
    await this.existing(username);
    const generated = b.password === undefined ? generatedPassword() : undefined;
    const password = generated ?? passwordOf(b.password, 'password');
    const after = (await this.auth.store.update(username, { passwordHash: await hashPassword(password) }))!;
    await this.auth.changed(username);
    await this.record(actor, UserAuditAction.resetPassword, username, true, { generated: generated !== undefined });
    return generated === undefined ? { user: this.view(after) } : { user: this.view(after), password: generated };
  }

  async delete(actor: Actor, username: string): Promise<void> {
    await this.keepAnAdmin(await this.existing(username));
    await this.auth.store.delete(username);
    await this.auth.changed(username);
    await this.record(actor, UserAuditAction.delete, username, true);
  }

  /**
   * The caller's own password: the current one is checked, every session of the user ends (this one too) and a
   * new session is answered, so that the caller stays signed in and everyone else who had the password is out.
   */
  async changeOwnPassword(actor: Actor, body: unknown): Promise<LoginResponse> {
    const b = bodyOf(body) as Partial<Record<keyof ChangePasswordRequest, unknown>>;
    if (typeof b.currentPassword !== 'string' || b.currentPassword.length > MAX_PASSWORD_LENGTH)
      throw new FieldlineError(
        ErrorCode.INVALID_REQUEST,
        'body must be {"currentPassword": string, "newPassword": string}',
      );
    const next = passwordOf(b.newPassword, 'newPassword');
    if (!(await this.auth.checkPassword(actor.username, b.currentPassword))) {
      await this.record(actor, UserAuditAction.changePassword, actor.username, false, { reason: 'wrong password' });
      throw new FieldlineError(ErrorCode.FORBIDDEN, 'the current password is wrong');
    }
    await this.auth.store.update(actor.username, { passwordHash: await hashPassword(next) });
    await this.auth.changed(actor.username);
    await this.record(actor, UserAuditAction.changePassword, actor.username, true);
    return this.auth.openSession(actor.username, { address: actor.from, userAgent: actor.userAgent });
  }

  private view(u: StoredUser): OperatorUser {
    return publicUser(u, this.auth.hasTotp(u.username));
  }

  private async existing(username: string): Promise<StoredUser> {
    const user = await this.auth.store.find(username);
    if (!user) throw new FieldlineError(ErrorCode.NOT_FOUND, `no user "${username.slice(0, 64)}"`);
    return user;
  }

  /** Refuses a change that would leave no enabled admin. */
  private async keepAnAdmin(target: StoredUser): Promise<void> {
    if (target.role !== 'admin' || target.disabledAt !== null) return;
    const admins = (await this.auth.store.list()).filter((u) => u.role === 'admin' && u.disabledAt === null);
    if (admins.length <= 1)
      throw new FieldlineError(ErrorCode.CONFLICT, `"${target.username}" is the last enabled admin; add another first`);
  }

  private record(actor: Actor, action: string, target: string, ok: boolean, details?: Record<string, unknown>) {
    return this.audit.record({ actor: actor.username, action, target, from: actor.from, ok, details });
  }
}

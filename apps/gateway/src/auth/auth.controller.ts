import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import type { Request, Response } from 'express';
import {
  AuditAction,
  AuthPath,
  ErrorCode,
  FieldlineError,
  KNOWN_CLIENT_COOKIE,
  KNOWN_CLIENT_COOKIE_SECURE,
  type LoginRequest,
  type LoginResponse,
  type OperatorSession,
  RestRoute,
  type UnlockResponse,
  UserAuditAction,
} from '@fieldline/contracts';
import { AdminOnly, Public } from '../common/access';
import { ClientAddresses } from '../common/client-address';
import { CONFIG, type GatewayConfig } from '../config/config';
import { operatorOf } from './auth.guard';
import { cookieValue } from './login-throttle';
import { OperatorAuth } from './operator-auth.service';
import { type Actor, OperatorUsers } from './operator-users.service';
import { auditRefusal, RequestAudit } from './request-audit';

const userAgentOf = (headers: IncomingHttpHeaders): string | undefined => headers['user-agent']?.slice(0, 256);
const refreshTokenOf = (body: unknown): unknown =>
  (typeof body === 'object' && body !== null ? (body as { refreshToken?: unknown }) : {}).refreshToken;

/** Operator login. The token goes in `Authorization: Bearer` (REST) and `auth: {token}` (Socket.IO). */
@Controller()
export class AuthController {
  private readonly addresses: ClientAddresses;

  constructor(
    private readonly auth: OperatorAuth,
    private readonly users: OperatorUsers,
    @Inject(CONFIG) config: GatewayConfig,
    private readonly audit: RequestAudit,
  ) {
    this.addresses = new ClientAddresses(config.server.trustProxy);
  }

  @Public()
  @Post(RestRoute.login)
  @HttpCode(200)
  async login(
    @Body() body: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<LoginResponse> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Partial<Record<keyof LoginRequest, unknown>>;
    const origin = {
      address: this.addresses.of(req.socket.remoteAddress, req.headers),
      userAgent: userAgentOf(req.headers),
      knownClient:
        cookieValue(req.headers.cookie, KNOWN_CLIENT_COOKIE_SECURE) ??
        cookieValue(req.headers.cookie, KNOWN_CLIENT_COOKIE),
    };
    // The name as claimed (escaped and cut by the log): a refused guess of an unknown name is recorded too.
    const what = { action: AuditAction.login, actor: typeof b.username === 'string' ? b.username : null };
    let outcome: Awaited<ReturnType<OperatorAuth['authenticate']>>;
    try {
      outcome = await this.auth.authenticate(b.username, b.password, origin, b.totp);
    } catch (err) {
      await this.audit.record(req, { ...what, details: auditRefusal(err) }, false);
      throw err;
    }
    await this.audit.record(req, { ...what, details: { role: outcome.session.role } }, true);
    const { session, knownClient } = outcome;
    // Over TLS the cookie is Secure and says so in its name; a plain-HTTP quick start on a LAN keeps it working.
    const tls = this.addresses.isTls(req.socket, req.headers);
    res.cookie(tls ? KNOWN_CLIENT_COOKIE_SECURE : KNOWN_CLIENT_COOKIE, knownClient, {
      httpOnly: true,
      sameSite: 'strict',
      secure: tls,
      path: AuthPath.login,
      maxAge: this.auth.knownClientMaxAgeS * 1000,
    });
    return session;
  }

  /** A new access token for a refresh token, and the next refresh token (the one given is spent). */
  @Public()
  @Post(RestRoute.refresh)
  @HttpCode(200)
  refresh(@Body() body: unknown, @Req() req: Request): Promise<LoginResponse> {
    const origin = {
      address: this.addresses.of(req.socket.remoteAddress, req.headers),
      userAgent: userAgentOf(req.headers),
    };
    return this.auth.refresh(refreshTokenOf(body), origin);
  }

  /** Ends the session of a refresh token (the token is the credential: no access token needed, it may have expired). */
  @Public()
  @Post(RestRoute.logout)
  @HttpCode(204)
  async logout(@Body() body: unknown, @Req() req: Request): Promise<void> {
    const username = await this.auth.logout(refreshTokenOf(body));
    if (username !== null)
      await this.audit.record(req, { actor: username, action: UserAuditAction.logout, target: username }, true);
  }

  /** The caller changes their own password; answers a new session, every other one ends. */
  @Post(RestRoute.password)
  @HttpCode(200)
  password(@Body() body: unknown, @Req() req: Request): Promise<LoginResponse> {
    return this.users.changeOwnPassword(actorOf(req, this.addresses), body);
  }

  @Get(RestRoute.me)
  me(@Req() req: Request): OperatorSession {
    const o = operatorOf(req)!;
    return { username: o.username, role: o.role, expiresAt: o.expiresAt };
  }

  /** Clears a user name's failed-login delay, e.g. after an attack has pushed it to the maximum. */
  @AdminOnly()
  @Post(RestRoute.unlock)
  @HttpCode(200)
  async unlock(@Body() body: unknown, @Req() req: Request): Promise<UnlockResponse> {
    const username = (typeof body === 'object' && body !== null ? body : {}) as { username?: unknown };
    const name = username.username;
    if (typeof name !== 'string' || name.length < 1 || name.length > 64)
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'body must be {"username": string}');
    const failures = this.auth.unlock(name);
    await this.audit.record(req, { action: AuditAction.unlock, target: name, details: { failures } }, true);
    return { username: name, failures };
  }
}

/** The operator of a guarded request, with where the request came from. */
export function actorOf(req: Request, addresses: ClientAddresses): Actor {
  return {
    username: operatorOf(req)!.username,
    from: addresses.of(req.socket.remoteAddress, req.headers),
    userAgent: userAgentOf(req.headers),
  };
}

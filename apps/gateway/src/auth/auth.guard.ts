import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ErrorCode, FieldlineError, roleAtLeast } from '@fieldline/contracts';
import { CONFIG, type GatewayConfig } from '../config/config';
import { ACCESS, type Access } from '../common/access';
import { secretEquals } from '../common/secrets';
import { bearerToken } from './bearer-token';
import { type OperatorClaims, OperatorAuth } from './operator-auth.service';

/** The operator of a guarded request (set by {@link OperatorGuard}). */
export function operatorOf(req: Request): OperatorClaims | undefined {
  return (req as Request & { operator?: OperatorClaims }).operator;
}

/**
 * The global guard of REST routes: every route wants an operator JWT (`Authorization: Bearer`) unless marked
 * {@link Public}; {@link AdminOnly} routes want the admin role. Runs only for HTTP: Socket.IO sockets are checked once,
 * at connect, by the namespace middleware, and devices by their transports.
 */
@Injectable()
export class OperatorGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: OperatorAuth,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (access?.kind === 'public') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const token = bearerToken(req.headers.authorization);
    if (access?.kind === 'metrics') {
      const expected = this.config.auth.metricsToken;
      if (expected === null || (token !== null && secretEquals(token, expected))) return true;
    }
    let claims: OperatorClaims;
    try {
      claims = await this.auth.verify(token ?? undefined);
    } catch (err) {
      this.auth.refused.rest++;
      context.switchToHttp().getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer realm="fieldline"');
      throw err;
    }
    (req as Request & { operator?: OperatorClaims }).operator = claims;
    if (access?.kind === 'role' && !roleAtLeast(claims.role, access.role)) {
      this.auth.refused.rest++;
      throw new FieldlineError(ErrorCode.FORBIDDEN, `this needs the ${access.role} role; you are ${claims.role}`);
    }
    return true;
  }
}

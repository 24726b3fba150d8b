import { Body, Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { type LoginResponse, type OperatorSession, RestRoute } from '@fieldline/contracts';
import { Public } from '../common/access';
import { operatorOf } from './auth.guard';
import { OperatorAuth } from './operator-auth.service';

/** Operator login. The token goes in `Authorization: Bearer` (REST) and `auth: {token}` (Socket.IO). */
@Controller()
export class AuthController {
  constructor(private readonly auth: OperatorAuth) {}

  @Public()
  @Post(RestRoute.login)
  @HttpCode(200)
  login(@Body() body: unknown, @Req() req: Request): Promise<LoginResponse> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { username?: unknown; password?: unknown };
    return this.auth.login(b.username, b.password, req.socket.remoteAddress ?? '');
  }

  @Get(RestRoute.me)
  me(@Req() req: Request): OperatorSession {
    const o = operatorOf(req)!;
    return { username: o.username, role: o.role, expiresAt: o.expiresAt };
  }
}

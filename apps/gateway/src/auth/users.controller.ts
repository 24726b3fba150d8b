import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { type NewPasswordResponse, type OperatorUser, RestRoute } from '@fieldline/contracts';
import { AdminOnly } from '../common/access';
import { ClientAddresses } from '../common/client-address';
import { CONFIG, type GatewayConfig } from '../config/config';
import { actorOf } from './auth.controller';
import { OperatorUsers } from './operator-users.service';

/** User management (admin): list, add, change role, disable or enable, reset a password, remove. */
@AdminOnly()
@Controller()
export class UsersController {
  private readonly addresses: ClientAddresses;

  constructor(
    private readonly users: OperatorUsers,
    @Inject(CONFIG) config: GatewayConfig,
  ) {
    this.addresses = new ClientAddresses(config.server.trustProxy);
  }

  @Get(RestRoute.users)
  list(): Promise<OperatorUser[]> {
    return this.users.list();
  }

  @Post(RestRoute.users)
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: Request): Promise<NewPasswordResponse> {
    return this.users.create(actorOf(req, this.addresses), body);
  }

  @Patch(RestRoute.user)
  update(@Param('username') username: string, @Body() body: unknown, @Req() req: Request): Promise<OperatorUser> {
    return this.users.update(actorOf(req, this.addresses), username, body);
  }

  @Post(RestRoute.userPassword)
  @HttpCode(200)
  resetPassword(
    @Param('username') username: string,
    @Body() body: unknown,
    @Req() req: Request,
  ): Promise<NewPasswordResponse> {
    return this.users.resetPassword(actorOf(req, this.addresses), username, body);
  }

  @Delete(RestRoute.user)
  @HttpCode(204)
  delete(@Param('username') username: string, @Req() req: Request): Promise<void> {
    return this.users.delete(actorOf(req, this.addresses), username);
  }
}

import { Injectable, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Express } from 'express';
import { dashboardHandler, findDashboardDir } from './dashboard.static';

@Injectable()
class DashboardMount implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /**
   * Nest calls this after it has registered every route and before it adds its not-found handler, so the dashboard
   * answers only what no gateway route does.
   */
  onModuleInit(): void {
    const dir = findDashboardDir();
    if (dir === null) new Logger('Dashboard').warn('dashboard not built (run npm run build): / shows a placeholder');
    const app = this.adapterHost.httpAdapter.getInstance<Express>();
    app.use(dashboardHandler(dir));
  }
}

/** The Angular dashboard (`dist/dashboard/browser`), served at `/` on the gateway's HTTP port: same origin. */
@Module({ providers: [DashboardMount] })
export class DashboardModule {}

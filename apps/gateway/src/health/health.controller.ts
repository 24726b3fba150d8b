import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Public } from '../common/access';
import type { RedisConnections } from '../common/redis.connections';
import { REDIS } from '../common/redis.module';
import { DeviceTransports } from '../ingest/device-transports';
import { STATE_STORE, type StateStore } from '../state/state.store';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { WriteBuffer } from '../storage/write-buffer';
import { Readiness } from './readiness';

/** Readiness (`/health`, alias `/health/ready`) and liveness (`/health/live`). Metrics: metrics.controller.ts. */
@Controller()
export class HealthController {
  constructor(
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
    private readonly buffer: WriteBuffer,
    private readonly transports: DeviceTransports,
    @Inject(REDIS) private readonly redis: RedisConnections | null,
    private readonly readiness: Readiness,
    @Inject(STATE_STORE) private readonly state: StateStore,
  ) {}

  @Public()
  @Get('health/live')
  live_(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Ready (200, `ok`) only when the broker listens, the store answers, writes succeed and nothing waits on disk only;
   * `degraded` (503) while readings are spooled, the store is down but the spool has room, or the state store is
   * down (ingest goes on on cached tokens); else `unavailable`.
   */
  @Public()
  @Get(['health', 'health/ready'])
  async health(@Res() res: Response): Promise<void> {
    // Shutting down: not ready at once, whatever the checks say (new connections are being refused).
    if (this.readiness.draining) {
      res.status(503).json({ status: 'draining', drainingSinceMs: Date.now() - (this.readiness.since ?? Date.now()) });
      return;
    }
    // The state store gets a shorter leash: a hung PostgreSQL must not make /health itself hang.
    const [storeUp, stateUp] = await Promise.all([
      withTimeout(this.store.ping(), 2000).then(...UP),
      withTimeout(this.state.ping(), 1000).then(...UP),
    ]);
    const checks = {
      http: true,
      // The external broker (connected and subscribed) in production mode, else the embedded one (listening).
      broker: this.transports.all.every((t) => t.kind !== 'mqtt' || t.ready),
      store: storeUp,
      writes: this.buffer.healthy,
      state: stateUp,
      ...(this.redis ? { redis: this.redis.ready } : {}),
    };
    const ready = Object.values(checks).every(Boolean);
    const buffer = this.buffer.stats();
    // Degraded: still taking readings (they are safe in the spool), but the store is down or behind; or the state
    // store is down: devices whose token was checked before still send (cached), but admin changes are refused.
    const degraded = this.buffer.spooling || !checks.store || !checks.writes || !checks.state;
    const spoolReady = buffer.spool.bytes < this.buffer.spoolMaxBytes;
    const readiness = !spoolReady ? 'unavailable' : degraded ? 'degraded' : ready ? 'ok' : 'unavailable';
    // Not ready (503) while degraded: readings are still taken and safe in the spool, but what an operator sees is
    // behind. `status` tells the two apart: `degraded` (taking readings) or `unavailable`.
    const code = readiness === 'ok' ? 200 : 503;
    res.status(code).json({
      status: readiness,
      checks: { ...checks, spool: spoolReady },
      store: this.store.kind,
      state: this.state.engine,
      buffer,
      spool: {
        bytes: buffer.spool.bytes,
        maxBytes: this.buffer.spoolMaxBytes,
        segments: buffer.spool.segments,
        oldestAgeMs: buffer.spool.oldestAgeMs,
        backlog: buffer.spool.backlog,
        spooling: this.buffer.spooling,
      },
    });
  }
}

const UP = [() => true, () => false] as const;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

import { join } from 'node:path';
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { RedisConnections } from '../common/redis.connections';
import { REDIS, RedisModule } from '../common/redis.module';
import { CONFIG, type GatewayConfig } from '../config/config';
import { MetricsRegistry, observeCounter, observeGauge } from '../metrics/metrics';
import { AuthController } from './auth.controller';
import { OperatorGuard } from './auth.guard';
import { DeviceAuth } from './device-auth.service';
import { DEVICE_REGISTRY, type DeviceRegistry } from './device-registry';
import { DeviceRegistryController } from './device-registry.controller';
import { DeviceMetaController } from './device-meta.controller';
import { OperatorAuth } from './operator-auth.service';
import { TokenBucketLimiter } from '../common/rate-limiter';
import { logger } from '../common/logger';
import { AUDIT_SINK, StateModule } from '../state/state.module';
import type { AuditSink } from '../state/audit.sink';
import { RedisOperatorBus } from './operator-bus';
import { OperatorStore } from './operator.store';
import { OperatorUsers } from './operator-users.service';
import { UsersController } from './users.controller';
import type { AuditLog } from '../state/audit.log';
import { STATE_STORE, type StateStore } from '../state/state.store';
import { importLegacyRegistries } from './device-registry.import';
import { RedisRevocationBus } from './revocation-bus';
import { StateDeviceRegistry } from './state.device-registry';
import { AuditController } from '../state/audit.controller';
import { RequestAudit } from './request-audit';

/** Injection token of the per-device rate limiter ({@link TokenBucketLimiter}, or null when DEVICE_RATE=0). */
export const DEVICE_LIMITER = Symbol('DEVICE_LIMITER');

/**
 * Who may do what: operators (login, JWT, roles; the global REST guard), devices (registry and tokens), and the
 * per-device rate limiter. Global, so that transports and controllers of other modules can use it.
 */
@Global()
@Module({
  imports: [RedisModule, StateModule],
  controllers: [AuthController, UsersController, DeviceRegistryController, DeviceMetaController, AuditController],
  providers: [
    {
      provide: RequestAudit,
      inject: [AUDIT_SINK, CONFIG, MetricsRegistry],
      useFactory: (audit: AuditLog, config: GatewayConfig, metrics: MetricsRegistry) => {
        observeCounter(metrics, {
          name: 'fieldline_audit_entries_total',
          help: 'Audit entries by outcome: recorded, dropped (a flood of refused logins), failed (logged instead).',
          labels: ['outcome'],
          read: () => Object.entries(audit.counts).map(([outcome, n]: [string, number]) => [{ outcome }, n] as const),
        });
        return new RequestAudit(audit, config);
      },
    },
    {
      provide: OperatorAuth,
      inject: [CONFIG, MetricsRegistry, STATE_STORE, AUDIT_SINK, { token: REDIS, optional: true }],
      // Users in the state store, configured ones created there at first start; Redis tells peers of changes.
      useFactory: async (
        config: GatewayConfig,
        metrics: MetricsRegistry,
        state: StateStore,
        audit: AuditSink,
        redis: RedisConnections | null | undefined,
      ) => {
        const operators = await OperatorAuth.create(config.auth, Date.now, {
          store: new OperatorStore(state),
          bus: redis ? new RedisOperatorBus(redis) : null,
          audit,
        });
        observeCounter(metrics, {
          name: 'fieldline_operator_auth_refused_total',
          help: 'Operator logins, REST requests and Socket.IO connections refused for credentials.',
          labels: ['channel'],
          read: () =>
            Object.entries(operators.refused).map(([channel, n]: [string, number]) => [{ channel }, n] as const),
        });
        observeCounter(metrics, {
          name: 'fieldline_login_throttled_total',
          help: 'Operator logins refused before their password was hashed: user name delayed, address over budget, queue full.',
          labels: ['reason'],
          read: () =>
            Object.entries(operators.throttled).map(([reason, n]: [string, number]) => [{ reason }, n] as const),
        });
        observeCounter(metrics, {
          name: 'fieldline_login_hashes_total',
          help: 'Password hashes computed for operator logins.',
          read: () => operators.hashes.started,
        });
        observeGauge(metrics, {
          name: 'fieldline_login_hash_queue',
          help: 'Operator logins waiting for a password hash, by lane (known clients first).',
          labels: ['lane'],
          read: () =>
            Object.entries(operators.hashes.queued).map(([lane, n]: [string, number]) => [{ lane }, n] as const),
        });
        return operators;
      },
    },
    {
      provide: OperatorUsers,
      inject: [OperatorAuth, AUDIT_SINK],
      useFactory: (auth: OperatorAuth, audit: AuditSink) => new OperatorUsers(auth, audit),
    },
    {
      provide: DEVICE_REGISTRY,
      inject: [CONFIG, STATE_STORE, { token: REDIS, optional: true }],
      // In the state store (SQLite, or PostgreSQL shared by several nodes); Redis only tells peers of revocations.
      useFactory: async (config: GatewayConfig, state: StateStore, redis: RedisConnections | null | undefined) => {
        const registry = new StateDeviceRegistry(state, redis ? new RedisRevocationBus(redis) : null);
        const from = { file: join(config.storage.dataDir, 'devices.json'), redis: redis ?? null };
        await importLegacyRegistries(registry, from, logger('DeviceRegistry'));
        return registry as DeviceRegistry;
      },
    },
    {
      provide: DeviceAuth,
      inject: [DEVICE_REGISTRY, MetricsRegistry],
      useFactory: async (registry: DeviceRegistry, metrics: MetricsRegistry) => {
        const auth = new DeviceAuth(registry);
        await auth.start();
        observeCounter(metrics, {
          name: 'fieldline_device_token_checks_total',
          help: 'Device token checks: answered from the cache (hit), asked of the registry (miss), or answered from an expired entry while the state store was unreachable (stale).',
          labels: ['result'],
          read: () => Object.entries(auth.cacheStats).map(([result, n]) => [{ result }, n] as const),
        });
        observeGauge(metrics, {
          name: 'fieldline_device_token_cache_entries',
          help: 'Entries of the device token cache: verified tokens (known) and unknown tokens remembered (unknown).',
          labels: ['kind'],
          read: () => Object.entries(auth.cacheSize()).map(([kind, n]) => [{ kind }, n] as const),
        });
        return auth;
      },
    },
    {
      provide: DEVICE_LIMITER,
      inject: [CONFIG],
      useFactory: ({ devices }: GatewayConfig) =>
        devices.rate > 0 ? new TokenBucketLimiter(devices.rate, devices.burst) : null,
    },
    { provide: APP_GUARD, useClass: OperatorGuard },
  ],
  exports: [OperatorAuth, DeviceAuth, DEVICE_REGISTRY, DEVICE_LIMITER, RequestAudit],
})
export class AuthModule {}

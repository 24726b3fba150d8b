import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { RestRoute } from '@fieldline/contracts';
import { MetricsAccess, Public } from '../auth/auth.guard';
import { OperatorAuth } from '../auth/operator-auth.service';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { WriteBuffer } from '../storage/write-buffer';
import type { RedisConnections } from '../common/redis.connections';
import { REDIS } from '../common/redis.module';
import { MqttClientTransport } from '../ingest/mqtt-client.transport';
import { MqttBrokerTransport } from '../ingest/mqtt.transport';
import { IngestPipeline } from '../ingest/ingest.pipeline';
import { TRANSPORTS } from '../ingest/ingest.stats';
import { WsIngestTransport } from '../ingest/ws.transport';
import { LiveFanout } from '../live/live.fanout';
import { TelemetryGateway } from '../live/telemetry.gateway';
import { PresenceService } from '../devices/presence.service';
import { Readiness } from './readiness';

/** Readiness (`/health`, alias `/health/ready`), liveness (`/health/live`) and Prometheus metrics (`/metrics`). */
@Controller()
export class HealthController {
  constructor(
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
    private readonly buffer: WriteBuffer,
    private readonly mqtt: MqttBrokerTransport,
    private readonly ws: WsIngestTransport,
    private readonly pipeline: IngestPipeline,
    private readonly live: LiveFanout,
    private readonly presence: PresenceService,
    private readonly telemetry: TelemetryGateway,
    private readonly operators: OperatorAuth,
    @Inject(MqttClientTransport) private readonly mqttClient: MqttClientTransport | null,
    @Inject(REDIS) private readonly redis: RedisConnections | null,
    private readonly readiness: Readiness,
  ) {}

  @Public()
  @Get(RestRoute.live)
  live_(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Ready (200, `ok`) only when the broker listens, the store answers, writes succeed and nothing waits on disk only;
   * `degraded` (503) while readings are spooled or the store is down but the spool has room; else `unavailable`.
   */
  @Public()
  @Get([RestRoute.health, RestRoute.ready])
  async health(@Res() res: Response): Promise<void> {
    // Shutting down: not ready at once, whatever the checks say (new connections are being refused).
    if (this.readiness.draining) {
      res.status(503).json({ status: 'draining', drainingSinceMs: Date.now() - (this.readiness.since ?? Date.now()) });
      return;
    }
    let storeUp = true;
    try {
      await withTimeout(this.store.ping(), 2000);
    } catch {
      storeUp = false;
    }
    const checks = {
      http: true,
      // The external broker (connected and subscribed) in production mode, else the embedded one (listening).
      broker: this.mqttClient ? this.mqttClient.ready : this.mqtt.ready,
      store: storeUp,
      writes: this.buffer.healthy,
      ...(this.redis ? { redis: this.redis.ready } : {}),
    };
    const ready = Object.values(checks).every(Boolean);
    const buffer = this.buffer.stats();
    // Degraded: still taking readings (they are safe in the spool), but the store is down or behind.
    const degraded = this.buffer.spooling || !checks.store || !checks.writes;
    const spoolReady = buffer.spool === null || buffer.spool.bytes < this.buffer.spoolMaxBytes;
    const readiness = !spoolReady ? 'unavailable' : degraded ? 'degraded' : ready ? 'ok' : 'unavailable';
    // Not ready (503) while degraded: readings are still taken and safe in the spool, but what an operator sees is
    // behind. `status` tells the two apart: `degraded` (taking readings) or `unavailable`.
    const code = readiness === 'ok' ? 200 : 503;
    res.status(code).json({
      status: readiness,
      checks: { ...checks, spool: spoolReady },
      store: this.store.kind,
      buffer,
      spool:
        buffer.spool === null
          ? null
          : {
              bytes: buffer.spool.bytes,
              maxBytes: this.buffer.spoolMaxBytes,
              segments: buffer.spool.segments,
              oldestAgeMs: buffer.spool.oldestAgeMs,
              backlog: buffer.spool.backlog,
              spooling: this.buffer.spooling,
            },
    });
  }

  @MetricsAccess()
  @Get(RestRoute.metrics)
  @Header('Content-Type', 'text/plain; version=0.0.4')
  metrics(): string {
    const s = this.pipeline.stats;
    const b = this.buffer.stats();
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    metric(
      'fieldline_messages_received_total',
      'counter',
      'Messages received by transport.',
      TRANSPORTS.map((t) => [`{transport="${t}"}`, s.messages[t]]),
    );
    metric(
      'fieldline_readings_accepted_total',
      'counter',
      'Readings accepted by transport.',
      TRANSPORTS.map((t) => [`{transport="${t}"}`, s.accepted[t]]),
    );
    metric(
      'fieldline_rejected_total',
      'counter',
      'Readings or messages refused, by transport and error code.',
      TRANSPORTS.flatMap((t) =>
        [...s.rejected[t]].map(([code, n]): [string, number] => [`{transport="${t}",code="${code}"}`, n]),
      ),
    );
    const refused = this.operators.refused;
    metric(
      'fieldline_operator_auth_refused_total',
      'counter',
      'Operator logins, REST requests and Socket.IO connections refused for credentials.',
      [
        ['{channel="login"}', refused.login],
        ['{channel="rest"}', refused.rest],
        ['{channel="socket"}', refused.socket],
      ],
    );
    metric('fieldline_store_written_total', 'counter', 'Readings written to the store.', [['', b.written]]);
    metric('fieldline_store_write_failures_total', 'counter', 'Failed store writes (retried).', [['', b.failures]]);
    metric('fieldline_write_buffer_pending', 'gauge', 'Readings waiting for the store in memory.', [
      ['', b.pending + b.inFlight],
    ]);
    metric('fieldline_store_replayed_total', 'counter', 'Readings left in the spool by an earlier run, stored.', [
      ['', b.replayed],
    ]);
    metric('fieldline_dead_letter_total', 'counter', 'Readings the store refused for good (DATA_DIR/dead-letter).', [
      ['', b.deadLettered],
    ]);
    metric('fieldline_duplicates_total', 'counter', 'Readings resent by devices (acked, not stored again).', [
      ['', s.duplicates],
    ]);
    if (b.spool) {
      metric('fieldline_spool_bytes', 'gauge', 'Bytes of spool segment files.', [['', b.spool.bytes]]);
      metric('fieldline_spool_max_bytes', 'gauge', 'Spool size bound (SPOOL_MAX_BYTES).', [
        ['', this.buffer.spoolMaxBytes],
      ]);
      metric('fieldline_spool_segments', 'gauge', 'Spool segment files.', [['', b.spool.segments]]);
      metric('fieldline_spool_oldest_age_seconds', 'gauge', 'Age of the oldest spool segment.', [
        ['', b.spool.oldestAgeMs / 1000],
      ]);
      metric('fieldline_spool_backlog', 'gauge', 'Readings only on disk, waiting for the store.', [
        ['', b.spool.backlog],
      ]);
      metric('fieldline_spool_groups_total', 'counter', 'Group commits to the spool.', [['', b.spool.groups]]);
    }
    metric('fieldline_live_events_total', 'counter', 'Socket.IO readings events emitted to device rooms.', [
      ['', this.live.events],
    ]);
    metric('fieldline_live_readings_total', 'counter', 'Readings handed to device rooms.', [['', this.live.delivered]]);
    const sio = this.telemetry.stats();
    metric('fieldline_operator_sockets', 'gauge', 'Operator sockets on /telemetry.', [['', sio.sockets]]);
    metric('fieldline_device_rooms', 'gauge', 'Device rooms with at least one operator.', [['', sio.rooms]]);
    metric('fieldline_devices', 'gauge', 'Known devices.', [['', this.presence.size]]);
    metric('fieldline_devices_online', 'gauge', 'Devices online.', [['', this.presence.onlineCount]]);
    metric('fieldline_mqtt_clients', 'gauge', 'Connected MQTT clients (embedded broker).', [
      ['', this.mqtt.connectedClients],
    ]);
    if (this.mqttClient) {
      metric(
        'fieldline_mqtt_pending_acks',
        'gauge',
        'External broker: PUBACKs waiting for their readings to be stored.',
        [['', this.mqttClient.pendingAcks]],
      );
      metric('fieldline_mqtt_session_takeovers_total', 'counter', 'Sessions of dead peer nodes drained by this node.', [
        ['', this.mqttClient.counters.takeovers],
      ]);
    }
    metric('fieldline_ws_ingest_connections', 'gauge', 'Open WebSocket ingest connections.', [
      ['', this.ws.connections],
    ]);
    return lines.join('\n') + '\n';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

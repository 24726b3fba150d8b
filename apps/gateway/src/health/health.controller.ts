import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { WriteBuffer } from '../storage/write-buffer';
import { MqttBrokerTransport } from '../ingest/mqtt.transport';
import { IngestPipeline } from '../ingest/ingest.pipeline';
import { TRANSPORTS } from '../ingest/ingest.stats';
import { WsIngestTransport } from '../ingest/ws.transport';
import { LiveFanout } from '../live/live.fanout';
import { TelemetryGateway } from '../live/telemetry.gateway';
import { PresenceService } from '../devices/presence.service';

/** Readiness (`/health`), liveness (`/health/live`) and Prometheus metrics (`/metrics`). */
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
  ) {}

  @Get('health/live')
  live_(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready only when the broker listens, the store answers and writes succeed. */
  @Get('health')
  async health(@Res() res: Response): Promise<void> {
    let storeUp = true;
    try {
      await withTimeout(this.store.ping(), 2000);
    } catch {
      storeUp = false;
    }
    const checks = {
      http: true,
      broker: this.mqtt.ready,
      store: storeUp,
      writes: this.buffer.healthy,
    };
    const ready = Object.values(checks).every(Boolean);
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? 'ok' : 'unavailable', checks, store: this.store.kind, buffer: this.buffer.stats() });
  }

  @Get('metrics')
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
    metric('fieldline_store_written_total', 'counter', 'Readings written to the store.', [['', b.written]]);
    metric('fieldline_store_write_failures_total', 'counter', 'Failed store writes (retried).', [['', b.failures]]);
    metric('fieldline_write_buffer_pending', 'gauge', 'Readings waiting for the store.', [
      ['', b.pending + b.inFlight],
    ]);
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

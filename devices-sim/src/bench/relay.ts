// The bare-relay baseline: readings in over MQTT (embedded aedes) or WebSocket `/ingest`, out to Socket.IO rooms on
// `/telemetry`, with no validation, no storage and no framework. It coalesces per device per tick like the gateway's
// live fan-out (BENCH_TICK_MS), so the gateway's ratio to it is the price of validation, storage and the rest.
// Started by the bench harness; not part of the simulator's public surface.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { Aedes } from 'aedes';
import { Server } from 'socket.io';
import { WebSocketServer } from 'ws';
import { deviceRoom, INGEST_PATH, Namespace, parseTopic, TelemetryEvent } from '@fieldline/contracts';

interface Relayed {
  deviceId?: string;
  seq?: number;
}

async function main(): Promise<void> {
  const httpPort = Number(process.env.BENCH_HTTP_PORT ?? 0);
  const mqttPort = Number(process.env.BENCH_MQTT_PORT ?? 0);
  const tickMs = Number(process.env.BENCH_TICK_MS ?? 20);
  const counters = { accepted: 0, delivered: 0, events: 0 };

  const http = createHttpServer((req, res) => {
    if (req.url === '/metrics') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(counters));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  const io = new Server(http, { perMessageDeflate: false, serveClient: false, destroyUpgrade: false });
  const ns = io.of(Namespace.telemetry);
  ns.on('connection', (socket) => {
    socket.on(TelemetryEvent.subscribe, (req: { deviceId: string }, ack: (res: unknown) => void) => {
      void socket.join(deviceRoom(req.deviceId));
      ack({ ok: true, deviceId: req.deviceId, backfill: [], truncated: false });
    });
    socket.on(TelemetryEvent.unsubscribe, (req: { deviceId: string }, ack: (res: unknown) => void) => {
      void socket.leave(deviceRoom(req.deviceId));
      ack({ ok: true, deviceId: req.deviceId });
    });
  });

  // The same coalescing as the gateway's LiveFanout: next turn when idle, at most once per tick when busy.
  let pending = new Map<string, unknown[]>();
  let scheduled: NodeJS.Timeout | NodeJS.Immediate | null = null;
  let lastFlush = 0;
  const flush = (): void => {
    scheduled = null;
    lastFlush = performance.now();
    const batch = pending;
    pending = new Map();
    for (const [deviceId, readings] of batch) {
      counters.events++;
      counters.delivered += readings.length;
      ns.to(deviceRoom(deviceId)).emit(TelemetryEvent.readings, { deviceId, readings });
    }
  };
  const push = (deviceId: string, reading: unknown): void => {
    counters.accepted++;
    const list = pending.get(deviceId);
    if (list) list.push(reading);
    else pending.set(deviceId, [reading]);
    if (scheduled === null) {
      const wait = lastFlush + tickMs - performance.now();
      scheduled = wait <= 0 ? setImmediate(flush) : setTimeout(flush, wait);
    }
  };

  const broker = await Aedes.createBroker({
    authorizePublish: (client, packet, done) => {
      if (client) {
        const t = parseTopic(packet.topic);
        if (t?.kind === 'telemetry') {
          try {
            const reading = JSON.parse(packet.payload.toString()) as Relayed;
            reading.deviceId = t.deviceId;
            push(t.deviceId, reading);
          } catch {
            // No validation here: what does not parse is dropped.
          }
        }
      }
      done(null);
    },
  });
  const mqtt = createNetServer(broker.handle);

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://relay');
    if (url.pathname.startsWith('/socket.io/')) return;
    if (url.pathname !== INGEST_PATH) return socket.destroy();
    const deviceId = url.searchParams.get('deviceId') ?? '';
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer) => {
        let seq: number | null = null;
        try {
          const reading = JSON.parse(data.toString()) as Relayed;
          seq = reading.seq ?? null;
          reading.deviceId = deviceId;
          push(deviceId, reading);
        } catch {
          // dropped, as above
        }
        ws.send(JSON.stringify({ type: 'ack', seq, accepted: 1 }));
      });
    });
  });

  await new Promise<void>((resolve) => http.listen(httpPort, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => mqtt.listen(mqttPort, '127.0.0.1', resolve));
  console.log('relay ready');
  const stop = (): void => {
    broker.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();

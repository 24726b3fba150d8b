import { type MetricsRegistry, observeCounter, observeGauge } from '../metrics/metrics';
import { type IngestStats, TRANSPORTS } from './ingest.stats';
import { MqttClientTransport } from './mqtt-client.transport';
import { MqttBrokerTransport } from './mqtt.transport';
import type { WsIngestTransport } from './ws.transport';

/** The ingest path's metrics: what came in and what was refused, per transport, and the transports' connections. */
export function registerIngestMetrics(
  registry: MetricsRegistry,
  stats: IngestStats,
  mqtt: MqttBrokerTransport | MqttClientTransport,
  ws: WsIngestTransport,
): void {
  observeCounter(registry, {
    name: 'fieldline_messages_received_total',
    help: 'Messages received by transport.',
    labels: ['transport'],
    read: () => TRANSPORTS.map((t) => [{ transport: t }, stats.messages[t]] as const),
  });
  observeCounter(registry, {
    name: 'fieldline_readings_accepted_total',
    help: 'Readings accepted by transport.',
    labels: ['transport'],
    read: () => TRANSPORTS.map((t) => [{ transport: t }, stats.accepted[t]] as const),
  });
  observeCounter(registry, {
    name: 'fieldline_rejected_total',
    help: 'Readings or messages refused, by transport and error code.',
    labels: ['transport', 'code'],
    read: () =>
      TRANSPORTS.flatMap((t) => [...stats.rejected[t]].map(([code, n]) => [{ transport: t, code }, n] as const)),
  });
  observeCounter(registry, {
    name: 'fieldline_duplicates_total',
    help: 'Readings resent by devices (acked, not stored again).',
    read: () => stats.duplicates,
  });
  observeGauge(registry, {
    name: 'fieldline_mqtt_clients',
    help: 'Connected MQTT clients (embedded broker).',
    read: () => (mqtt instanceof MqttBrokerTransport ? mqtt.connectedClients : 0),
  });
  if (mqtt instanceof MqttBrokerTransport) {
    const { sessions } = mqtt;
    observeCounter(registry, {
      name: 'fieldline_mqtt_queue_dropped_total',
      help: 'Embedded broker: QoS 1 messages not queued because the session queue was full.',
      read: () => sessions.dropped,
    });
    observeGauge(registry, {
      name: 'fieldline_mqtt_queued_messages',
      help: 'Embedded broker: QoS 1 messages queued for sessions (offline, or sent and not yet acknowledged).',
      read: () => sessions.queued.messages,
    });
    observeCounter(registry, {
      name: 'fieldline_mqtt_sessions_expired_total',
      help: 'Embedded broker: persistent sessions dropped after MQTT_DEVICE_SESSION_EXPIRY without a client.',
      read: () => sessions.expired,
    });
    observeCounter(registry, {
      name: 'fieldline_mqtt_subscriptions_refused_total',
      help: 'Embedded broker: topic filters refused by the subscription limits.',
      read: () => sessions.subscriptionsRefused,
    });
  }
  if (mqtt instanceof MqttClientTransport) {
    observeGauge(registry, {
      name: 'fieldline_mqtt_pending_acks',
      help: 'External broker: PUBACKs waiting for their readings to be stored.',
      read: () => mqtt.pendingAcks,
    });
    observeCounter(registry, {
      name: 'fieldline_mqtt_session_takeovers_total',
      help: 'Sessions of dead peer nodes drained by this node.',
      read: () => mqtt.takeovers.takeovers,
    });
  }
  observeGauge(registry, {
    name: 'fieldline_ws_ingest_connections',
    help: 'Open WebSocket ingest connections.',
    read: () => ws.connections,
  });
  observeCounter(registry, {
    name: 'fieldline_ws_backlog_closed_total',
    help: 'WebSocket ingest connections closed (4008) because their device left too many replies unread.',
    read: () => ws.backlogCloses,
  });
}

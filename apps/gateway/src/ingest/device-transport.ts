import type { Server as HttpServer } from 'node:http';
import type { DeviceMessage, SendOutcome } from '@fieldline/contracts';
import type { Transport } from './ingest.stats';

/** What a transport may need from the gateway when it starts. */
export interface TransportContext {
  /** The gateway's HTTP server (WebSocket ingest routes its upgrades; HTTP ingest is served by its routes). */
  httpServer: HttpServer;
}

/**
 * What every device transport does: the embedded broker, the external broker's client, WebSocket ingest and HTTP
 * ingest. The lifecycle (lifecycle.ts) drives them through these steps in this order; readings go into the ingest
 * pipeline, refusals are counted by it (`IngestPipeline.refuse`), and messages to devices leave through
 * {@link DeviceTransport.send}.
 */
export interface DeviceTransport {
  /** Which counters its messages go to. */
  readonly kind: Transport;
  /** A name for logs and health (`mqtt-broker`, `mqtt-client`, `ws`, `http`). */
  readonly name: string;
  /** Taking connections and messages (listening, or connected and subscribed). */
  readonly ready: boolean;
  /** Starts taking connections: listens, connects and subscribes, or attaches to the HTTP server. */
  start(context: TransportContext): Promise<void>;
  /** Shutdown, first step, at once: new connections are refused; open ones stay. Safe to call twice. */
  stopAccepting(): void;
  /**
   * Shutdown, second step: what devices already sent is taken, stored where the transport acknowledges only stored
   * readings, and acknowledged, within a bound. The pipeline refuses input after every transport drained.
   */
  drain(): Promise<void>;
  /** Shutdown, last step: every connection is closed (a peer that does not answer is cut). Safe to call twice. */
  close(): Promise<void>;
  /** Sends a message to a device connected through this transport on this node. */
  send(deviceId: string, message: DeviceMessage): Promise<SendOutcome>;
}

import { InjectionToken } from '@angular/core';
import { Manager, type Socket } from 'socket.io-client';
import type {
  DevicesClientEvents,
  DevicesServerEvents,
  Namespace,
  TelemetryClientEvents,
  TelemetryServerEvents,
} from '@fieldline/contracts/socket';

/**
 * The part of a socket.io-client `Socket` the socket service uses, typed by the contracts' event maps (a fake stands
 * in for it in specs). `active` is true while the socket will (re)connect on its own.
 */
export type IoSocket<ServerEvents extends object, ClientEvents extends object> = Pick<
  Socket<ServerEvents, ClientEvents>,
  'connected' | 'active' | 'on' | 'emit' | 'timeout' | 'connect' | 'disconnect'
>;
/** A socket on `/telemetry`. */
export type TelemetrySocket = IoSocket<TelemetryServerEvents, TelemetryClientEvents>;
/** A socket on `/devices`. */
export type DevicesSocket = IoSocket<DevicesServerEvents, DevicesClientEvents>;
/** The socket type of each namespace. */
export interface NamespaceSockets {
  [Namespace.telemetry]: TelemetrySocket;
  [Namespace.devices]: DevicesSocket;
}

/** The part of a socket.io-client `Manager` (one engine.io connection shared by every namespace) the service uses. */
export interface IoManager {
  /** `reconnect_attempt` (with the attempt number) and `reconnect_failed`. */
  on(event: 'reconnect_attempt' | 'reconnect_failed', listener: (attempt: number) => void): unknown;
  socket<N extends keyof NamespaceSockets>(
    namespace: N,
    options: { auth: (cb: (data: object) => void) => void },
  ): NamespaceSockets[N];
}

/** Builds the connection to the gateway at `url` (same origin in production). */
export type IoManagerFactory = (url: string) => IoManager;

export const IO_MANAGER_FACTORY = new InjectionToken<IoManagerFactory>('IO_MANAGER_FACTORY', {
  providedIn: 'root',
  factory: () => createIoManager,
});

/** Where the gateway is: the page's own origin (the gateway serves the dashboard; `ng serve` proxies). */
export const GATEWAY_URL = new InjectionToken<string>('GATEWAY_URL', {
  providedIn: 'root',
  factory: () => globalThis.location?.origin ?? 'http://localhost:3000',
});

function createIoManager(url: string): IoManager {
  const manager = new Manager(url, {
    // WebSocket first: no sticky sessions needed behind a load balancer; long-polling only when WebSocket fails.
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    randomizationFactor: 0.5,
    timeout: 10_000,
    autoConnect: false,
  });
  return {
    on: (event, listener) => manager.on(event, listener),
    // A manager's socket has socket.io's default (any) event maps: it takes the namespace's contract types as is.
    socket: (namespace, options) => manager.socket(namespace, options),
  };
}

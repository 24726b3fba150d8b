import { InjectionToken } from '@angular/core';
import { Manager } from 'socket.io-client';

/** The part of a socket.io-client `Socket` the socket service uses (a fake stands in for it in specs). */
export interface IoSocket {
  readonly connected: boolean;
  /** True while the socket will (re)connect on its own. */
  readonly active: boolean;
  on(event: string, listener: (...args: never[]) => void): unknown;
  emit(event: string, payload: unknown): unknown;
  timeout(ms: number): { emitWithAck(event: string, payload: unknown): Promise<unknown> };
  connect(): unknown;
  disconnect(): unknown;
}

/** The part of a socket.io-client `Manager` (one engine.io connection shared by every namespace) the service uses. */
export interface IoManager {
  /** `reconnect_attempt` (with the attempt number) and `reconnect_failed`. */
  on(event: 'reconnect_attempt' | 'reconnect_failed', listener: (attempt: number) => void): unknown;
  socket(namespace: string, options: { auth: (cb: (data: object) => void) => void }): IoSocket;
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
    socket: (namespace, options) => manager.socket(namespace, options),
  };
}

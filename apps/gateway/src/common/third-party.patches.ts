import type { Duplex } from 'node:stream';
import type { Aedes, Client as AedesClient } from 'aedes';
import type { MqttClient } from 'mqtt';
import type { WebSocket } from 'ws';

/*
 * Every use of a third-party library's private fields, in one place. Each one is a patch for something the library
 * has no public API for; each throws a {@link PatchError} naming the library when the field it relies on is gone,
 * instead of silently doing nothing, and third-party.patches.spec.ts runs each against the installed library.
 */

/** A library no longer has the private field a patch relies on (it was upgraded): the patch must be redone. */
export class PatchError extends Error {
  constructor(library: string, field: string, why: string) {
    super(`${library}: private field ${field} is gone (library upgraded?); ${why}`);
    this.name = 'PatchError';
  }
}

interface MqttPacketParser {
  _parseLength?: () => boolean;
  packet: { length: number };
}

/**
 * aedes (through mqtt-packet) has no packet size limit. This checks the length announced in the fixed header before
 * the parser buffers the body and destroys that client's connection alone when it exceeds `max`, so one client
 * cannot make the broker buffer more than `max` bytes. Wraps mqtt-packet's `Parser#_parseLength`.
 */
export function capMqttPacketSize(client: AedesClient, max: number): void {
  const parser = (client as unknown as { _parser?: MqttPacketParser })._parser;
  const original = parser?._parseLength;
  if (!parser || typeof original !== 'function')
    throw new PatchError('aedes/mqtt-packet', 'client._parser._parseLength', 'MQTT packets would have no size cap');
  parser._parseLength = function (this: MqttPacketParser) {
    const ok = original.call(this);
    if (ok && this.packet.length > max) {
      client.conn.destroy(new Error(`packet of ${this.packet.length} bytes exceeds ${max}`));
      return false;
    }
    return ok;
  };
}

/** A client id as aedes' persistence sees it. */
export interface SessionKey {
  id: string;
}

/** A packet in aedes' outgoing queue (only what the session budget looks at). */
export interface QueuedPacket {
  messageId?: number;
  payload: Buffer | string;
}

/** The part of aedes' persistence (aedes-persistence's interface) the session budget wraps or calls. */
export interface BrokerPersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: SessionKey, packet: QueuedPacket): Promise<QueuedPacket | undefined>;
  outgoingStream(client: SessionKey): AsyncIterable<QueuedPacket>;
  addSubscriptions(client: SessionKey, subs: { topic: string }[]): Promise<void>;
  cleanSubscriptions(client: SessionKey): Promise<void>;
  cleanIncoming?(client: SessionKey): Promise<void>;
}

/**
 * aedes has no session expiry and no bound on a session's queue; both are built on its persistence (the interface
 * every aedes persistence implements), which the broker keeps in an untyped `persistence` field.
 */
export function brokerPersistence(broker: Aedes): BrokerPersistence {
  const p = (broker as unknown as { persistence?: Partial<BrokerPersistence> }).persistence;
  const needed = ['outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingClearMessageId', 'outgoingStream'] as const;
  if (
    !p ||
    ![...needed, 'addSubscriptions', 'cleanSubscriptions'].every((m) => typeof p[m as keyof typeof p] === 'function')
  )
    throw new PatchError(
      'aedes',
      'broker.persistence',
      'MQTT sessions would never expire and their queues be unbounded',
    );
  return p as BrokerPersistence;
}

/** A packet mqtt.js is about to write. */
export interface OutgoingPacket {
  cmd: string;
  messageId?: number;
}

/** Sends a packet for real, bypassing the interceptor. */
export type SendPacket = (packet: OutgoingPacket, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/**
 * mqtt.js has no manual acknowledgement API: it sends a PUBACK as soon as `handleMessage` calls back. This wraps
 * `MqttClient#_sendPacket`, the one place every outgoing packet passes, and lets `intercept` keep a packet (return
 * true; it may send it later with the returned {@link SendPacket}) or let it through (return false).
 */
export function interceptOutgoingPackets(
  client: MqttClient,
  intercept: (packet: OutgoingPacket, cb: ((err?: Error) => void) | undefined) => boolean,
): SendPacket {
  const c = client as unknown as { _sendPacket?: SendPacket };
  if (typeof c._sendPacket !== 'function')
    throw new PatchError('mqtt', 'MqttClient._sendPacket', 'PUBACKs could not wait until readings are stored');
  const send = c._sendPacket.bind(client);
  c._sendPacket = (packet, cb, ...rest) => {
    if (!intercept(packet, cb)) send(packet, cb, ...rest);
  };
  return send;
}

/**
 * The TCP socket under a `ws` WebSocket, to cork it while a group of frames is sent (ws has no batch send: without
 * this each frame is its own write syscall). Wraps ws's `WebSocket#_socket`.
 */
export function rawSocketOf(ws: WebSocket): Duplex {
  const socket = (ws as unknown as { _socket?: Duplex })._socket;
  if (!socket || typeof socket.cork !== 'function')
    throw new PatchError('ws', 'WebSocket._socket', 'replies could not be sent in one write');
  return socket;
}

import type { MqttClient } from 'mqtt';
import { interceptOutgoingPackets, type OutgoingPacket, type SendPacket } from '../common/third-party.patches';
import type { IngestPipeline } from './ingest.pipeline';

/**
 * Holds a broker client's PUBACKs until the readings they acknowledge are in the store, and sends them in the order
 * the messages came. mqtt.js has no manual acknowledgement API, so every outgoing packet passes an interceptor
 * (third-party.patches.ts).
 */
export class StoredAcks {
  private readonly holds = new Map<number, number>();
  private queue: { target: number; packet: OutgoingPacket }[] = [];
  private stored: number;
  private readonly send: SendPacket;
  private readonly unlisten: () => void;

  constructor(
    private readonly client: MqttClient,
    private readonly pipeline: IngestPipeline,
  ) {
    this.stored = pipeline.storedMark;
    this.send = interceptOutgoingPackets(client, (packet, cb) => {
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return false;
      const target = this.holds.get(packet.messageId) ?? 0;
      this.holds.delete(packet.messageId);
      if (this.queue.length === 0 && target <= this.stored) return false;
      this.queue.push({ target, packet });
      cb?.();
      return true;
    });
    this.unlisten = pipeline.onStored((stored) => this.release(stored));
  }

  /** The PUBACK of `messageId` waits until every reading accepted so far is stored. */
  hold(messageId: number): void {
    this.holds.set(messageId, this.pipeline.acceptedMark);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** The connection dropped: the broker resends whatever was not acknowledged; nothing held may go out later. */
  reset(): void {
    this.holds.clear();
    this.queue = [];
  }

  dispose(): void {
    this.reset();
    this.unlisten();
  }

  private release(stored: number): void {
    this.stored = stored;
    if (this.queue.length === 0) return;
    if (!this.client.connected) return this.reset();
    let i = 0;
    while (i < this.queue.length && this.queue[i].target <= stored) this.send(this.queue[i++].packet);
    if (i > 0) this.queue = this.queue.slice(i);
  }
}

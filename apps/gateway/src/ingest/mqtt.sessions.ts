import type { Aedes, Client } from 'aedes';
import type { MqttDeviceBudget } from '../config/mqtt.config';
import { type BrokerPersistence, brokerPersistence, type QueuedPacket } from '../common/third-party.patches';

/** What a session's queue holds: QoS 1 messages not yet acknowledged by its client, and their payload bytes. */
interface Usage {
  messages: number;
  bytes: number;
}

const payloadBytes = (p: QueuedPacket): number =>
  typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;

/**
 * The embedded broker's limits on one session (aedes 1.x has none of them built in):
 *
 * - a persistent session (clean = false) whose client stays away for `sessionExpiryS` is dropped: its subscriptions
 *   and queued messages go (a timer armed at `clientDisconnect`, cleared when a client takes the session again);
 * - a device keeps at most `sessions` persistent sessions: a new one past it drops the device's oldest session that
 *   has no client (a device making up client ids cannot pile up queues);
 * - its queue of QoS 1 messages (offline, or sent and not yet acknowledged) holds at most `queueMessages` messages
 *   and `queueBytes` payload bytes; a message that does not fit is not queued for it (the newest is dropped, as
 *   Mosquitto's `max_queued_messages` does), counted in {@link dropped};
 * - at most `subscriptions` filters per session and `subscribeTopics` new filters per SUBSCRIBE; the others get
 *   0x80 in SUBACK. A filter the session already holds is not new (a resubscription, or aedes restoring a session).
 *
 * The queue is bounded by wrapping aedes' persistence (enqueue counts, clearing releases); only granted filters are
 * persisted (aedes would store every filter of a SUBSCRIBE once one of them is granted).
 */
export class MqttSessionBudget {
  /** Messages not queued because the session's queue was full. */
  dropped = 0;
  /** Persistent sessions dropped after `sessionExpiryS` without a client, or to make room for a newer one. */
  expired = 0;
  /** Topic filters refused (0x80) by the two subscription limits. */
  subscriptionsRefused = 0;
  private persistence: BrokerPersistence | null = null;
  private broker: Aedes | null = null;
  private readonly usage = new Map<string, Usage>();
  /** Filters granted per session (a session is keyed by its scoped client id). */
  private readonly filters = new Map<string, Set<string>>();
  private readonly expiry = new Map<string, NodeJS.Timeout>();
  /** Each device's persistent sessions, oldest first, and those a client holds now. */
  private readonly sessionsOf = new Map<string, Set<string>>();
  private readonly online = new Set<string>();
  /**
   * New filters authorized so far in the SUBSCRIBE being handled, per client. aedes authorizes every filter of one
   * SUBSCRIBE in one synchronous loop (`runParallel` in handlers/subscribe.js) and the next packet of that client
   * only after it, so a count reset in the next microtask is a count per SUBSCRIBE.
   */
  private readonly inPacket = new Map<Client, number>();

  constructor(
    private readonly budget: MqttDeviceBudget,
    /** The device a session belongs to (sessions are keyed by the scoped client id). */
    private readonly deviceOf: (sessionId: string) => string,
  ) {}

  attach(broker: Aedes): void {
    const p = brokerPersistence(broker);
    this.persistence = p;
    this.broker = broker;
    const enqueue = p.outgoingEnqueueCombi.bind(p);
    const enqueueOne = p.outgoingEnqueue.bind(p);
    const clear = p.outgoingClearMessageId.bind(p);
    const addSubscriptions = p.addSubscriptions.bind(p);
    p.outgoingEnqueueCombi = (subs, packet) => {
      const fit = subs.filter((s) => this.take(s.clientId, packet));
      return fit.length ? enqueue(fit, packet) : Promise.resolve();
    };
    p.outgoingEnqueue = (sub, packet) =>
      this.take(sub.clientId, packet) ? enqueueOne(sub, packet) : Promise.resolve();
    p.outgoingClearMessageId = async (client, packet) => {
      const removed = await clear(client, packet);
      if (removed) this.release(client.id, removed);
      return removed;
    };
    p.addSubscriptions = (client, subs) => {
      const granted = this.filters.get(client.id);
      return addSubscriptions(
        client,
        subs.filter((s) => granted?.has(s.topic)),
      );
    };
    // 'client' comes after a takeover closed the session's previous client (and its clientDisconnect).
    broker.on('client', (client) => this.connected(client.id, client.clean));
    broker.on('clientDisconnect', (client) => {
      this.online.delete(client.id);
      if (client.clean) this.filters.delete(client.id);
      else this.arm(client.id);
    });
    broker.on('unsubscribe', (topics, client) => {
      const set = this.filters.get(client.id);
      for (const t of topics) set?.delete(t);
    });
  }

  /** A client holds session `id` now: no expiry while it does. */
  private connected(id: string, clean: boolean): void {
    const timer = this.expiry.get(id);
    if (timer) clearTimeout(timer);
    this.expiry.delete(id);
    this.online.add(id);
    const device = this.deviceOf(id);
    const sessions = this.sessionsOf.get(device);
    if (clean) {
      // aedes drops a clean client's stored session; its queue is released as aedes clears it.
      this.filters.delete(id);
      sessions?.delete(id);
      return;
    }
    if (!sessions) this.sessionsOf.set(device, new Set([id]));
    else if (!sessions.has(id)) {
      sessions.add(id);
      for (const old of sessions) {
        if (sessions.size <= this.budget.sessions) break;
        if (this.online.has(old)) continue;
        const t = this.expiry.get(old);
        if (t) clearTimeout(t);
        this.expiry.delete(old);
        void this.drop(old);
      }
    }
  }

  /** Whether this client may add `topic` to its session (see the class comment). */
  maySubscribe(client: Client, topic: string): boolean {
    let set = this.filters.get(client.id);
    if (set?.has(topic)) return true;
    const n = this.inPacket.get(client) ?? 0;
    if (n === 0) queueMicrotask(() => this.inPacket.delete(client));
    this.inPacket.set(client, n + 1);
    if (n >= this.budget.subscribeTopics || (set?.size ?? 0) >= this.budget.subscriptions) {
      this.subscriptionsRefused++;
      return false;
    }
    if (!set) this.filters.set(client.id, (set = new Set()));
    set.add(topic);
    return true;
  }

  /** Sessions with a queue, and what they hold in all (for the metrics). */
  get queued(): Usage {
    let messages = 0;
    let bytes = 0;
    for (const u of this.usage.values()) {
      messages += u.messages;
      bytes += u.bytes;
    }
    return { messages, bytes };
  }

  /** Stops the expiry timers (the broker is closing). */
  close(): void {
    for (const t of this.expiry.values()) clearTimeout(t);
    this.expiry.clear();
  }

  private take(id: string, packet: QueuedPacket): boolean {
    const size = payloadBytes(packet);
    let u = this.usage.get(id);
    if (!u) this.usage.set(id, (u = { messages: 0, bytes: 0 }));
    if (u.messages + 1 > this.budget.queueMessages || u.bytes + size > this.budget.queueBytes) {
      this.dropped++;
      return false;
    }
    u.messages++;
    u.bytes += size;
    return true;
  }

  private release(id: string, packet: QueuedPacket): void {
    const u = this.usage.get(id);
    if (!u) return;
    u.messages = Math.max(0, u.messages - 1);
    u.bytes = Math.max(0, u.bytes - payloadBytes(packet));
    if (u.messages === 0) this.usage.delete(id);
  }

  private arm(id: string): void {
    const old = this.expiry.get(id);
    if (old) clearTimeout(old);
    const timer = setTimeout(() => {
      this.expiry.delete(id);
      void this.drop(id);
    }, this.budget.sessionExpiryS * 1000);
    timer.unref();
    this.expiry.set(id, timer);
  }

  /** Drops session `id` (no client holds it): its subscriptions, its queue, its QoS 2 state. */
  private async drop(id: string): Promise<void> {
    const p = this.persistence;
    if (!p || this.broker?.closed !== false) return;
    const key = { id };
    this.filters.delete(id);
    const device = this.deviceOf(id);
    const sessions = this.sessionsOf.get(device);
    sessions?.delete(id);
    if (sessions?.size === 0) this.sessionsOf.delete(device);
    this.expired++;
    await p.cleanSubscriptions(key);
    await p.cleanIncoming?.(key);
    // Clearing by message id removes one packet per call (the first with that id), so one call per queued packet
    // empties the queue whatever the ids are.
    const queued: QueuedPacket[] = [];
    for await (const packet of p.outgoingStream(key)) queued.push(packet);
    for (const packet of queued) await p.outgoingClearMessageId(key, packet);
    this.usage.delete(id);
  }
}

import { connect, type IPublishPacket, type MqttClient } from 'mqtt';
import { errorMessage, parseNodeStatusTopic, ReasonCode, STATUS_OFFLINE, STATUS_ONLINE } from '@fieldline/contracts';
import type { Logger } from '../common/logger';
import type { IngestPipeline } from './ingest.pipeline';
import { StoredAcks } from './mqtt-client.acks';
import {
  clientIdOf,
  type MqttClientOptions,
  NODE_SUBSCRIPTIONS,
  nodeStatusTopic,
  sessionOptions,
} from './mqtt-client.session';

/** A drain is done when no message came for this long and every received one is acknowledged. */
const DRAIN_QUIET_MS = 1000;
const DRAIN_MAX_MS = 5 * 60_000;

/** What a takeover needs from the node's own broker client. */
export interface TakeoverHost {
  readonly opts: MqttClientOptions;
  readonly protocol: 4 | 5;
  readonly closing: boolean;
  /** The node's own client (to clear a drained peer's retained status). */
  readonly client: MqttClient | null;
  /** Handles one message of a drained session, as the node's own. */
  onMessage(client: MqttClient, acks: StoredAcks, packet: IPublishPacket, drain: boolean): Error | undefined;
}

/**
 * Taking over a dead peer's session. A node that dies leaves a session holding its unacknowledged messages, and
 * Mosquitto keeps routing a share of new messages to a dead member of a shared subscription. So each node publishes
 * a retained status on `fieldline/nodes/<id>/status` (`online`; its will, sent 5 s after an unclean disconnect, says
 * `offline`), and when a peer goes offline a live node connects with the peer's client id, unsubscribes it (no new
 * messages go there), ingests what the session held, and ends the session. If the peer comes back first it takes its
 * session back. Redelivered messages may have been stored already: the stores are idempotent for device + ts + seq.
 */
export class PeerTakeover {
  private readonly draining = new Map<string, Promise<void>>();
  private readonly peerStatus = new Map<string, string>();
  /** Counters for /metrics. */
  readonly counters = { drained: 0, takeovers: 0 };

  constructor(
    private readonly host: TakeoverHost,
    private readonly pipeline: IngestPipeline,
    private readonly log: Logger,
  ) {}

  /** A retained node status seen on the node's own subscription. */
  onNodeStatus(topic: string, status: string): void {
    const nodeId = parseNodeStatusTopic(topic) ?? '';
    if (nodeId === this.host.opts.nodeId || nodeId === '') return;
    this.peerStatus.set(nodeId, status);
    if (status !== STATUS_OFFLINE || this.draining.has(nodeId) || this.host.closing) return;
    // Several live nodes see the same will: spread them out; whoever connects last holds the session, and one
    // that is pushed out stops (what it had not acknowledged goes to the other).
    const delay = Math.floor(Math.random() * 1000);
    const run = new Promise<void>((r) => setTimeout(r, delay))
      .then(() =>
        this.peerStatus.get(nodeId) === STATUS_OFFLINE && !this.host.closing ? this.drain(nodeId) : undefined,
      )
      .catch((err: unknown) => this.log.warn(`drain of ${nodeId}: ${errorMessage(err)}`))
      .finally(() => this.draining.delete(nodeId));
    this.draining.set(nodeId, run);
  }

  /** Resolves when every takeover under way has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.draining.values()]);
  }

  /** Connects as the dead peer, ingests what its session holds, and ends the session. */
  private drain(peer: string): Promise<void> {
    const o = this.host.opts;
    const v5 = this.host.protocol === 5;
    const client = connect(o.url, sessionOptions(o, clientIdOf(peer), this.host.protocol));
    const acks = new StoredAcks(client, this.pipeline);
    let received = 0;
    let last = Date.now();
    client.handleMessage = (packet, done) => {
      received++;
      last = Date.now();
      done(this.host.onMessage(client, acks, packet, true));
    };
    return new Promise<void>((resolve) => {
      let finished = false;
      let poll: NodeJS.Timeout | null = null;
      const started = Date.now();
      const finish = (outcome: string, endSession: boolean): void => {
        if (finished) return;
        finished = true;
        if (poll) clearInterval(poll);
        const done = (): void => {
          acks.dispose();
          if (endSession) {
            this.counters.takeovers++;
            this.counters.drained += received;
            // The peer's retained `offline` is handled: clear it so nodes that start later do not drain again.
            if (this.peerStatus.get(peer) === STATUS_OFFLINE)
              this.host.client?.publish(nodeStatusTopic(peer), '', { qos: 1, retain: true });
          }
          this.log.log(`session of node ${peer}: ${outcome} (${received} messages)`);
          resolve();
        };
        if (!client.connected) {
          client.end(true, {}, done);
          return;
        }
        // Session expiry 0 on DISCONNECT ends the session (3.1.1: a clean session ends with the connection).
        client.end(false, endSession && v5 ? { properties: { sessionExpiryInterval: 0 } } : {}, done);
      };
      client.on('connect', (connack) => {
        if (!connack.sessionPresent) {
          // Nothing held, or the peer came back and drained it itself.
          finish('no session left', true);
          return;
        }
        this.log.log(`node ${peer} is offline: taking over its session`);
        client.unsubscribe(NODE_SUBSCRIPTIONS, () => {
          poll = setInterval(() => {
            if (this.peerStatus.get(peer) === STATUS_ONLINE) return finish('the node came back', false);
            if (Date.now() - started > DRAIN_MAX_MS) return finish('given up after 5 min', false);
            if (Date.now() - last >= DRAIN_QUIET_MS && acks.pending === 0) finish('drained', true);
          }, 100);
        });
      });
      client.on('disconnect', (packet) => {
        if (packet.reasonCode === ReasonCode.SESSION_TAKEN_OVER)
          finish('taken back by its node or another peer', false);
      });
      client.on('close', () => finish('connection closed', false));
      client.on('error', (err) => this.log.warn(`drain of ${peer}: ${err.message}`));
    });
  }
}

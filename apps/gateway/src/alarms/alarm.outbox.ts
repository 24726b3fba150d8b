import { createHash, createHmac } from 'node:crypto';
import {
  ALARM_DELIVERY_HEADER,
  ALARM_SIGNATURE_HEADER,
  type Alarm,
  type AlertmanagerWebhook,
  backoffMs,
  errorMessage,
} from '@fieldline/contracts';
import type { StateStore } from '../state/state.store';

/** Alertmanager's "not yet ended". */
const ZERO_TIME = '0001-01-01T00:00:00Z';
const RECEIVER = 'fieldline';

/**
 * The Alertmanager webhook body (version 4) of one alarm change, so that receivers written for Alertmanager take
 * Fieldline's notices as they are. One alert per notice; its fingerprint is the alarm id.
 */
export function alertmanagerPayload(alarm: Alarm, ruleName: string, externalUrl: string): AlertmanagerWebhook {
  const status = alarm.state === 'cleared' || alarm.state === 'closed' ? 'resolved' : 'firing';
  const labels = {
    alertname: ruleName,
    rule: alarm.ruleId,
    device: alarm.deviceId,
    metric: alarm.metric,
    severity: alarm.severity,
  };
  const annotations = { summary: alarm.message, reason: alarm.reason };
  const groupLabels = { rule: alarm.ruleId, device: alarm.deviceId };
  return {
    version: '4',
    groupKey: `{}:{rule="${alarm.ruleId}",device="${alarm.deviceId}"}`,
    truncatedAlerts: 0,
    status,
    receiver: RECEIVER,
    groupLabels,
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: externalUrl,
    alerts: [
      {
        status,
        labels,
        annotations,
        startsAt: new Date(alarm.raisedAt ?? alarm.pendingAt).toISOString(),
        endsAt: status === 'resolved' ? new Date(alarm.clearedAt ?? alarm.closedAt!).toISOString() : ZERO_TIME,
        generatorURL: `${externalUrl}/api/alarms/${encodeURIComponent(alarm.id)}`,
        fingerprint: createHash('sha256').update(alarm.id).digest('hex').slice(0, 16),
      },
    ],
  };
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes. */
export const signature = (secret: string, body: string): string =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export interface OutboxOptions {
  url: string;
  secret: string | null;
  /** How often due notices are looked for (besides right after a new one). */
  tickMs: number;
  /** Retry back-off: full jitter from `baseMs` doubling to `capMs`. */
  baseMs?: number;
  capMs?: number;
  /** One attempt's time limit. */
  timeoutMs?: number;
}

interface Log {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Delivers the notices of `alarm_outbox` (written in the transaction of the change they tell, so none is lost in a
 * crash) to the webhook, oldest first, each until the receiver answers 2xx: at least once, named by
 * {@link ALARM_DELIVERY_HEADER} for the receiver to drop repeats. A failed one waits its back-off (attempts are
 * stored, so a restart keeps the pace) and does not hold back the others.
 */
export class WebhookOutbox {
  delivered = 0;
  failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** Aborts the attempt in flight at stop, so that shutdown does not wait out a slow receiver. */
  private readonly abort = new AbortController();

  constructor(
    private readonly store: StateStore,
    private readonly options: OutboxOptions,
    private readonly log: Log,
    private readonly clock: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.poke(), this.options.tickMs);
    this.timer.unref();
    this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await this.running;
  }

  /** Looks for due notices now (one pass at a time; a poke during a pass runs another after it). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: unknown) => this.log.warn(`alarm webhook: outbox pass failed: ${errorMessage(err)}`))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  /** One pass over the due notices now, resolved when it is done (tests; the ticker pokes). */
  async deliverDue(): Promise<void> {
    while (this.running) await this.running;
    this.poke();
    await (this.running as Promise<void> | null);
  }

  /** Notices not yet delivered (gauge). */
  async pending(): Promise<number> {
    const row = await this.store.db
      .selectFrom('alarm_outbox')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('delivered_at', 'is', null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  private async pass(): Promise<void> {
    const due = await this.store.db
      .selectFrom('alarm_outbox')
      .selectAll()
      .where('delivered_at', 'is', null)
      .where('next_at', '<=', this.clock())
      .orderBy('seq')
      .limit(50)
      .execute();
    for (const n of due) {
      if (this.stopped) return;
      const error = await this.send(n.alarm_id, Number(n.seq), n.payload);
      const now = this.clock();
      const q = this.store.db.updateTable('alarm_outbox').where('seq', '=', n.seq);
      if (error === null) {
        this.delivered++;
        await q.set({ delivered_at: now, attempts: n.attempts + 1, last_error: null }).execute();
      } else {
        this.failures++;
        const wait = backoffMs(n.attempts, this.options.baseMs ?? 500, this.options.capMs ?? 300_000);
        await q.set({ attempts: n.attempts + 1, next_at: now + wait, last_error: error }).execute();
      }
    }
  }

  /** One attempt; null when the receiver took it, else why not. */
  private async send(alarmId: string, seq: number, body: string): Promise<string | null> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [ALARM_DELIVERY_HEADER]: `${alarmId}:${seq}`,
    };
    if (this.options.secret !== null) headers[ALARM_SIGNATURE_HEADER] = signature(this.options.secret, body);
    try {
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 10_000)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? null : `HTTP ${res.status}`;
    } catch (err) {
      return errorMessage(err);
    }
  }
}

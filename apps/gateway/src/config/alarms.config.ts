import { z } from 'zod';
import { duration, type Env, parseSection, text, url } from './env';

/** Alarm evaluation (docs/alarms.md). */
export interface AlarmsConfig {
  /** How often `for` durations, clear waits and no-data are checked between readings. */
  tickMs: number;
  /** Readings older than this against the gateway's clock are not evaluated (bounded lateness). */
  latenessMs: number;
  /** How often device labels are read again for tag selectors (rules are re-read on every change anyway). */
  refreshMs: number;
  /** Where firing and resolved notices go (Alertmanager webhook payload); null: no notifications. */
  webhookUrl: string | null;
  /** Shared secret of the notices' HMAC-SHA256 signature; null: unsigned. */
  webhookSecret: string | null;
}

const schema = z
  .object({
    ALARM_TICK: duration(1000, 50, 60_000, 'a duration from 50ms to 1m (e.g. 1s)'),
    ALARM_LATENESS: duration(60_000, 1000, 24 * 3600_000, 'a duration from 1s to 24h (e.g. 1m)'),
    ALARM_REFRESH: duration(30_000, 1000, 3600_000, 'a duration from 1s to 1h (e.g. 30s)'),
    ALARM_WEBHOOK_URL: url(['http:', 'https:']),
    ALARM_WEBHOOK_SECRET: text(null),
  })
  .transform((e): AlarmsConfig => ({
    tickMs: e.ALARM_TICK,
    latenessMs: e.ALARM_LATENESS,
    refreshMs: e.ALARM_REFRESH,
    webhookUrl: e.ALARM_WEBHOOK_URL,
    webhookSecret: e.ALARM_WEBHOOK_SECRET,
  }));

/** `ALARM_TICK`, `ALARM_LATENESS`, `ALARM_REFRESH`, `ALARM_WEBHOOK_URL`, `ALARM_WEBHOOK_SECRET`. */
export const loadAlarmsConfig = (env: Env): AlarmsConfig => parseSection(schema, env);

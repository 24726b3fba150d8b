import { z } from 'zod';
import { duration, type Env, parseSection } from './env';

/** Alarm evaluation (docs/alarms.md). */
export interface AlarmsConfig {
  /** How often `for` durations, clear waits and no-data are checked between readings. */
  tickMs: number;
  /** Readings older than this against the gateway's clock are not evaluated (bounded lateness). */
  latenessMs: number;
  /** How often device labels are read again for tag selectors (rules are re-read on every change anyway). */
  refreshMs: number;
}

const schema = z
  .object({
    ALARM_TICK: duration(1000, 50, 60_000, 'a duration from 50ms to 1m (e.g. 1s)'),
    ALARM_LATENESS: duration(60_000, 1000, 24 * 3600_000, 'a duration from 1s to 24h (e.g. 1m)'),
    ALARM_REFRESH: duration(30_000, 1000, 3600_000, 'a duration from 1s to 1h (e.g. 30s)'),
  })
  .transform((e): AlarmsConfig => ({ tickMs: e.ALARM_TICK, latenessMs: e.ALARM_LATENESS, refreshMs: e.ALARM_REFRESH }));

/** `ALARM_TICK`, `ALARM_LATENESS`, `ALARM_REFRESH`. */
export const loadAlarmsConfig = (env: Env): AlarmsConfig => parseSection(schema, env);

import { z } from 'zod';
import { type Env, integer, parseSection } from './env';

/** Live fan-out to operators. */
export interface LiveConfig {
  /** Under load, readings of a device are coalesced into one event per tick of this length. */
  tickMs: number;
}

const live = z
  .object({ LIVE_TICK_MS: integer(10, 1, 1000) })
  .transform((e): LiveConfig => ({ tickMs: e.LIVE_TICK_MS }));

/** `LIVE_TICK_MS`. */
export const loadLiveConfig = (env: Env): LiveConfig => parseSection(live, env);

import { z } from 'zod';
import { decimal, type Env, integer, parseSection } from './env';

/** Simulated devices started beside the gateway (`npm start`). */
export interface SimConfig {
  /** 0: none. */
  devices: number;
  /** Readings per second per simulated device. */
  rate: number;
}

const sim = z
  .object({ SIM_DEVICES: integer(0, 0, 10_000), SIM_RATE: decimal(1, 0.01, 1000) })
  .transform((e): SimConfig => ({ devices: e.SIM_DEVICES, rate: e.SIM_RATE }));

/** `SIM_DEVICES`, `SIM_RATE`. */
export const loadSimConfig = (env: Env): SimConfig => parseSection(sim, env);

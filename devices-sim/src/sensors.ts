/** The metrics every simulated device reports. */
export interface SensorMetrics {
  /** °C */
  temperature: number;
  /** % relative humidity */
  humidity: number;
  /** % charge */
  battery: number;
}

/** mulberry32: tiny, fast and good enough for simulation; the same seed always yields the same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string mixed with a seed, so each device gets its own stream from one simulator seed. */
export function hashSeed(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface SensorModelOptions {
  /** Simulator-wide seed; combined with the device id. Default 1. */
  seed?: number;
  /** Probability that a temperature reading is a spike (a glitch a real sensor produces). Default 0.005. */
  spikeProbability?: number;
  /** How long a full battery lasts, in ms. Default 6 h: visible drain in a demo, a full cycle in a long soak. */
  batteryLifeMs?: number;
}

const DAY_MS = 86_400_000;

/**
 * Plausible indoor/outdoor climate sensor. Deterministic: two models with the same seed and device id, asked for the
 * same sequence of times, return the same values.
 */
export class SensorModel {
  private readonly rnd: () => number;
  private readonly baseTemp: number;
  private readonly amplitude: number;
  /** Shifts the daily cycle, as if the device sat in another time zone. */
  private readonly phaseMs: number;
  private readonly baseHumidity: number;
  private readonly batteryLifeMs: number;
  private readonly batteryPhaseMs: number;
  private readonly spikeProbability: number;
  /** Slow weather drift (AR(1)), so consecutive days are not identical. */
  private drift = 0;
  private spare: number | null = null;

  constructor(
    readonly deviceId: string,
    options: SensorModelOptions = {},
  ) {
    this.rnd = mulberry32(hashSeed(options.seed ?? 1, deviceId));
    this.baseTemp = 18 + this.rnd() * 6; // 18–24 °C
    this.amplitude = 2 + this.rnd() * 4; // ±2–6 °C over the day
    this.phaseMs = Math.floor((this.rnd() - 0.5) * 6 * 3_600_000); // ±3 h
    this.baseHumidity = 45 + this.rnd() * 15; // 45–60 %
    this.batteryLifeMs = options.batteryLifeMs ?? 6 * 3_600_000;
    this.batteryPhaseMs = this.rnd() * this.batteryLifeMs * 0.6; // start between 100 % and 40 %
    this.spikeProbability = options.spikeProbability ?? 0.005;
  }

  /** The daily cycle alone, in °C above the base: coldest around 03:00, warmest around 15:00 (device-local). */
  dailyCycle(ts: number): number {
    const dayFraction = ((((ts + this.phaseMs) % DAY_MS) + DAY_MS) % DAY_MS) / DAY_MS;
    return this.amplitude * Math.sin(2 * Math.PI * (dayFraction - 0.375));
  }

  /** Battery level at `ts`: drains linearly over the battery life, then the battery is "replaced" (back to 100). */
  battery(ts: number): number {
    const used = (((ts + this.batteryPhaseMs) % this.batteryLifeMs) + this.batteryLifeMs) % this.batteryLifeMs;
    return round(100 * (1 - used / this.batteryLifeMs), 1);
  }

  /** Metrics at `ts` (epoch ms). */
  sample(ts: number): SensorMetrics {
    this.drift = 0.995 * this.drift + this.gaussian() * 0.05;
    const trueTemp = this.baseTemp + this.dailyCycle(ts) + this.drift;
    let temperature = trueTemp + this.gaussian() * 0.15;
    if (this.rnd() < this.spikeProbability) temperature += (this.rnd() < 0.5 ? -1 : 1) * (8 + this.rnd() * 12);
    // Relative humidity falls as air warms; driven by the true temperature so a spike stays a temperature glitch.
    const humidity = clamp(this.baseHumidity - 2.5 * (trueTemp - this.baseTemp) + this.gaussian() * 1.2, 5, 100);
    return { temperature: round(temperature, 2), humidity: round(humidity, 1), battery: this.battery(ts) };
  }

  /** Standard normal via Box–Muller, caching the second value. */
  private gaussian(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = 1 - this.rnd(); // (0, 1]: log(0) would be -Infinity
    const v = this.rnd();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

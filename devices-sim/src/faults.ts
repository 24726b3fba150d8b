import { readFileSync } from 'node:fs';
import { hashSeed, mulberry32 } from './sensors';
import { errorMessage } from '@fieldline/contracts';

/** Kinds of fault the simulator can inject. */
export type FaultKind = 'drop' | 'skew' | 'ooo' | 'dup' | 'burst' | 'malformed';
export const FAULT_KINDS: readonly FaultKind[] = ['drop', 'skew', 'ooo', 'dup', 'burst', 'malformed'];

/** Shapes of malformed message, each answered with a documented code (docs/simulator.md). */
export type MalformedKind = 'json' | 'type' | 'oversize';
export const MALFORMED_KINDS: readonly MalformedKind[] = ['json', 'type', 'oversize'];

/** What to inject. Probabilities are per scheduled reading of a device. */
export interface FaultSpec {
  /** Cut the device's connection: with this probability per reading... */
  dropProbability?: number;
  /** ...or on average every this many ms per device (uniform in [0.5, 1.5] × the interval). */
  dropEveryMs?: number;
  /** Each device's clock is off by a fixed offset drawn uniformly from [−skewMs, +skewMs]. */
  skewMs?: number;
  /** A message is held back and sent after the next one. */
  ooo?: number;
  /** An acknowledged message is sent once more, unchanged (same seq and ts). */
  dup?: number;
  /** `burstSize` extra readings are produced at once. */
  burst?: number;
  burstSize?: number;
  /** A malformed message is sent besides the reading. */
  malformed?: number;
  /** Default: all three. */
  malformedKinds?: MalformedKind[];
  /** Seed of the fault decisions (default: the simulator's seed), so a run can be repeated. */
  seed?: number;
}

/** One fault kind's tally: how often it was injected and what the gateway answered (`ack` or an error code). */
export interface FaultTally {
  injected: number;
  /** Bursts: readings produced by the bursts. */
  readings?: number;
  answers: Record<string, number>;
}

export type FaultStats = Record<FaultKind, FaultTally>;

export function emptyFaultStats(): FaultStats {
  const s = {} as FaultStats;
  for (const k of FAULT_KINDS) s[k] = { injected: 0, answers: {} };
  s.burst.readings = 0;
  return s;
}

/** Adds `b` into `a`. */
export function addFaultStats(a: FaultStats, b: FaultStats): void {
  for (const k of FAULT_KINDS) {
    a[k].injected += b[k].injected;
    if (b[k].readings !== undefined) a[k].readings = (a[k].readings ?? 0) + b[k].readings;
    for (const code in b[k].answers) a[k].answers[code] = (a[k].answers[code] ?? 0) + b[k].answers[code];
  }
}

export class FaultSpecError extends Error {}

/**
 * Parses `drop=0.01,skew=5s,dup=0.02,ooo=0.01,burst=0.005:50,malformed=0.01[:json+type+oversize],seed=7`.
 * `drop` takes a probability per reading or an interval with a unit (`drop=10s`); durations take `ms`, `s` or `m`.
 */
export function parseFaults(text: string): FaultSpec {
  const spec: FaultSpec = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new FaultSpecError(`fault "${item}" is not <kind>=<value>`);
    setFault(spec, item.slice(0, eq).trim(), item.slice(eq + 1).trim());
  }
  return spec;
}

/** Reads a scenario file: a JSON object with the keys of {@link parseFaults} and the same values (numbers or strings). */
export function readFaultsFile(path: string): FaultSpec {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FaultSpecError(`cannot read ${path}: ${errorMessage(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FaultSpecError(`${path} must hold a JSON object such as {"drop": "10s", "dup": 0.01}`);
  }
  const spec: FaultSpec = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'number' && typeof v !== 'string') throw new FaultSpecError(`${key}: expected a number or string`);
    setFault(spec, key, String(v));
  }
  return spec;
}

function setFault(spec: FaultSpec, key: string, value: string): void {
  switch (key) {
    case 'drop':
      if (/[a-z]$/i.test(value)) spec.dropEveryMs = duration(value, key, 1);
      else spec.dropProbability = probability(value, key);
      return;
    case 'skew':
      spec.skewMs = duration(value, key, 0);
      return;
    case 'ooo':
    case 'dup':
      spec[key] = probability(value, key);
      return;
    case 'burst': {
      const [p, size = '10'] = value.split(':');
      spec.burst = probability(p, key);
      const n = Number(size);
      if (!Number.isInteger(n) || n < 1 || n > 10_000)
        throw new FaultSpecError(`burst size must be an integer 1..10000, got "${size}"`);
      spec.burstSize = n;
      return;
    }
    case 'malformed': {
      const [p, kinds] = value.split(':');
      spec.malformed = probability(p, key);
      if (kinds) {
        const list = kinds.split('+');
        const bad = list.find((k) => !MALFORMED_KINDS.includes(k as MalformedKind));
        if (bad !== undefined)
          throw new FaultSpecError(`malformed kind "${bad}": expected ${MALFORMED_KINDS.join(', ')}`);
        spec.malformedKinds = list as MalformedKind[];
      }
      return;
    }
    case 'seed': {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new FaultSpecError(`seed must be an integer >= 0, got "${value}"`);
      spec.seed = n;
      return;
    }
    default:
      throw new FaultSpecError(`unknown fault "${key}": expected ${FAULT_KINDS.join(', ')} or seed`);
  }
}

function probability(text: string, key: string): number {
  const n = Number(text);
  if (text === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new FaultSpecError(`${key} must be a probability in [0, 1], got "${text}"`);
  return n;
}

function duration(text: string, key: string, min: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000) : NaN;
  if (!(ms >= min)) throw new FaultSpecError(`${key} must be a duration such as 500ms, 5s or 2m, got "${text}"`);
  return ms;
}

/** True when the spec injects anything. */
export function hasFaults(spec: FaultSpec | undefined): spec is FaultSpec {
  if (!spec) return false;
  return !!(
    spec.dropProbability ||
    spec.dropEveryMs ||
    spec.skewMs ||
    spec.ooo ||
    spec.dup ||
    spec.burst ||
    spec.malformed
  );
}

/** The spec in the `--faults` syntax (for logs and summaries). */
export function formatFaults(spec: FaultSpec): string {
  const parts: string[] = [];
  if (spec.dropProbability) parts.push(`drop=${spec.dropProbability}`);
  if (spec.dropEveryMs) parts.push(`drop=${spec.dropEveryMs}ms`);
  if (spec.skewMs) parts.push(`skew=${spec.skewMs}ms`);
  if (spec.ooo) parts.push(`ooo=${spec.ooo}`);
  if (spec.dup) parts.push(`dup=${spec.dup}`);
  if (spec.burst) parts.push(`burst=${spec.burst}:${spec.burstSize ?? 10}`);
  if (spec.malformed)
    parts.push(`malformed=${spec.malformed}${spec.malformedKinds ? `:${spec.malformedKinds.join('+')}` : ''}`);
  if (spec.seed !== undefined) parts.push(`seed=${spec.seed}`);
  return parts.join(',');
}

/** Above the gateway's 64 KiB message limit, below its 68 KiB MQTT packet cap: refused, not disconnected (MQTT). */
export const OVERSIZE_BYTES = 66_000;

/**
 * One device's fault decisions, drawn from its own seeded stream (simulator seed × device id), so the same seed and
 * the same readings give the same faults. Timing (when a drop lands relative to answers) still depends on the network.
 */
export class DeviceFaults {
  readonly skewMs: number;
  readonly stats: FaultStats = emptyFaultStats();
  /** One stream per decision, so that when answers arrive cannot change what is decided at production time. */
  private readonly rnd: Record<FaultKind, () => number>;
  private nextDropAt: number | null = null;

  constructor(
    readonly spec: FaultSpec,
    deviceId: string,
    seed: number,
  ) {
    const base = hashSeed(spec.seed ?? seed, deviceId);
    this.rnd = {} as Record<FaultKind, () => number>;
    for (const kind of FAULT_KINDS) this.rnd[kind] = mulberry32(hashSeed(base, kind));
    this.skewMs = spec.skewMs ? Math.round((this.rnd.skew() * 2 - 1) * spec.skewMs) : 0;
    if (this.skewMs !== 0) this.stats.skew.injected = 1;
  }

  private chance(kind: FaultKind, p: number | undefined): boolean {
    return !!p && this.rnd[kind]() < p;
  }

  /** Per scheduled reading: cut the connection now? */
  dropNow(): boolean {
    return this.chance('drop', this.spec.dropProbability);
  }

  /** Interval drops: true when the device's next drop is due at `now` (ms, any monotonic clock). */
  dropDue(now: number): boolean {
    const every = this.spec.dropEveryMs;
    if (!every) return false;
    if (this.nextDropAt === null) this.nextDropAt = now + every * (0.5 + this.rnd.drop());
    if (now < this.nextDropAt) return false;
    this.nextDropAt = now + every * (0.5 + this.rnd.drop());
    return true;
  }

  /** Per message: hold it back behind the next one? */
  outOfOrder(): boolean {
    return this.chance('ooo', this.spec.ooo);
  }

  /** Per acknowledged message: send it once more? */
  duplicate(): boolean {
    return this.chance('dup', this.spec.dup);
  }

  /** Per scheduled reading: number of extra readings to produce now (0: no burst). */
  burst(): number {
    return this.chance('burst', this.spec.burst) ? (this.spec.burstSize ?? 10) : 0;
  }

  /** Per scheduled reading: a malformed message to send besides it, or null. */
  malformed(deviceId: string, ts: number): { kind: MalformedKind; payload: string } | null {
    if (!this.chance('malformed', this.spec.malformed)) return null;
    const kinds = this.spec.malformedKinds ?? MALFORMED_KINDS;
    const kind = kinds[Math.floor(this.rnd.malformed() * kinds.length)];
    return { kind, payload: malformedPayload(kind, deviceId, ts) };
  }

  count(kind: FaultKind, answer?: string, n = 1): void {
    if (answer === undefined) this.stats[kind].injected += n;
    else this.stats[kind].answers[answer] = (this.stats[kind].answers[answer] ?? 0) + n;
  }
}

/**
 * A malformed message of the given kind. None carries a `seq`, so none can be mistaken for a reading:
 * `json` → `MALFORMED_JSON`; `type` (a metric that is a string) → `INVALID_METRIC_VALUE`;
 * `oversize` (a valid-looking reading of {@link OVERSIZE_BYTES}) → `MESSAGE_TOO_LARGE` (WebSocket: close 1009).
 */
export function malformedPayload(kind: MalformedKind, deviceId: string, ts: number): string {
  switch (kind) {
    case 'json':
      return `{"deviceId":"${deviceId}","ts":${ts},"metrics":{"temperature":`;
    case 'type':
      return JSON.stringify({ deviceId, ts, metrics: { temperature: 'hot' } });
    case 'oversize': {
      const head = JSON.stringify({ deviceId, ts, metrics: { temperature: 20 }, tags: { pad: '' } });
      return head.replace('"pad":""', `"pad":"${'x'.repeat(OVERSIZE_BYTES - head.length)}"`);
    }
  }
}

/**
 * A set of non-negative integers kept as sorted, disjoint, inclusive ranges: the `seq`s a device had acknowledged.
 * A device acks in order almost always, so this stays a handful of ranges however long the run.
 */
export class SeqSet {
  private readonly r: [number, number][] = [];
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** Adds `x`; false when it was already there. */
  add(x: number): boolean {
    const r = this.r;
    const last = r[r.length - 1];
    // Fast path: in-order acks extend the last range.
    if (last && x === last[1] + 1) {
      last[1] = x;
      this.n++;
      return true;
    }
    // First range whose end is >= x - 1.
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid][1] < x - 1) lo = mid + 1;
      else hi = mid;
    }
    const cur = r[lo];
    if (cur && cur[0] <= x && x <= cur[1]) return false;
    this.n++;
    if (cur && cur[1] === x - 1) {
      cur[1] = x;
      const next = r[lo + 1];
      if (next && next[0] === x + 1) {
        cur[1] = next[1];
        r.splice(lo + 1, 1);
      }
    } else if (cur && cur[0] === x + 1) cur[0] = x;
    else r.splice(lo, 0, [x, x]);
    return true;
  }

  /** Removes `x` (a reading acknowledged, then refused after all: MQTT answers on the errors topic after PUBACK). */
  delete(x: number): boolean {
    const r = this.r;
    const i = r.findIndex(([a, b]) => a <= x && x <= b);
    if (i < 0) return false;
    const [a, b] = r[i];
    this.n--;
    if (a === b) r.splice(i, 1);
    else if (x === a) r[i][0] = a + 1;
    else if (x === b) r[i][1] = b - 1;
    else r.splice(i, 1, [a, x - 1], [x + 1, b]);
    return true;
  }

  has(x: number): boolean {
    return this.r.some(([a, b]) => a <= x && x <= b);
  }

  /** Inclusive ranges, ascending. */
  ranges(): [number, number][] {
    return this.r.map(([a, b]) => [a, b]);
  }

  values(): number[] {
    return expandRanges(this.r);
  }
}

/** `[[1, 3], [5, 5]]` → `[1, 2, 3, 5]`. */
export function expandRanges(ranges: readonly (readonly [number, number])[]): number[] {
  const out: number[] = [];
  for (const [a, b] of ranges) for (let x = a; x <= b; x++) out.push(x);
  return out;
}

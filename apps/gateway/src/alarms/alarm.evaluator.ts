import { type AlarmRule, type Severity, severityRank } from '@fieldline/contracts';

/** Where a rule's evaluation of one device stands. Saved on every change, so that a restart resumes it. */
export interface EvalState {
  ruleId: string;
  deviceId: string;
  phase: 'ok' | 'pending' | 'firing';
  /** Index into the rule's levels (lowest severity first) of the pending or firing level; -1: none (or no data). */
  level: number;
  /** The severity of a pending or firing alarm (a no-data alarm has the rule's no-data severity). */
  severity: Severity | null;
  reason: 'threshold' | 'no_data';
  /** Event time the condition started to hold (pending), null otherwise. */
  pendingSince: number | null;
  /** Firing: since when a higher level holds, and which. */
  upSince: number | null;
  upLevel: number;
  /** Firing: since when the value is in the clear band of the firing level, and the level it would step down to. */
  clearSince: number | null;
  clearTo: number;
  /** Event time and value of the last reading taken (for a rate rule, the rate). */
  lastTs: number | null;
  lastValue: number | null;
  /** A rate rule's last raw value (the rate is taken against it). */
  lastRaw?: number | null;
  /** The no-data action was taken for the current silence (so it is taken once). */
  silent: boolean;
  /** The open alarm instance, set by the service. */
  alarmId: string | null;
}

export type TransitionKind = 'pending' | 'cancelled' | 'raised' | 'updated' | 'cleared';

/** What the evaluator tells its owner: lifecycle changes, and state changes that only need saving. */
export interface EvaluatorSink {
  /** `state` is the slot's state after the change (the same object: copy what must outlive the call). */
  transition(kind: TransitionKind, rule: CompiledRule, state: EvalState, at: number): void;
  /** A timer started or stopped (pending, step-up, clear wait) without a lifecycle change. */
  changed(rule: CompiledRule, state: EvalState): void;
}

/** A registered device's labels, for tag selectors. */
export interface DeviceLabels {
  deviceId: string;
  tags: Record<string, string>;
}

/** A rule made ready to evaluate: levels sorted by severity, limits as numbers. */
export interface CompiledRule {
  readonly rule: AlarmRule;
  readonly id: string;
  readonly metric: string;
  /** The comparison: a rate rule compares its rate with `above` / `below`. */
  readonly kind: 'above' | 'below' | 'outside' | 'inside';
  /** Evaluates the change per second between consecutive readings instead of the value. */
  readonly rate: boolean;
  /** Lowest severity first; `a` is the threshold or low, `b` the high (ranges). */
  readonly levels: readonly { severity: Severity; a: number; b: number }[];
  readonly hysteresis: number;
  readonly forMs: number;
  readonly clearForMs: number;
}

export function compileRule(rule: AlarmRule): CompiledRule {
  const c = rule.condition;
  const levels = c.levels.map((l) =>
    'threshold' in l
      ? { severity: l.severity, a: l.threshold, b: l.threshold }
      : { severity: l.severity, a: l.low, b: l.high },
  );
  levels.sort((x, y) => severityRank(x.severity) - severityRank(y.severity));
  return {
    rule,
    id: rule.id,
    metric: rule.metric,
    kind: c.kind === 'rate_above' ? 'above' : c.kind === 'rate_below' ? 'below' : c.kind,
    rate: c.kind === 'rate_above' || c.kind === 'rate_below',
    levels,
    hysteresis: rule.clear.hysteresis,
    forMs: rule.forMs,
    clearForMs: rule.clear.forMs,
  };
}

/** Whether the value raises level `i`. */
function raises(r: CompiledRule, i: number, v: number): boolean {
  const { a, b } = r.levels[i];
  switch (r.kind) {
    case 'above':
      return v > a;
    case 'below':
      return v < a;
    case 'outside':
      return v < a || v > b;
    case 'inside':
      return v >= a && v <= b;
  }
}

/** Whether the value is in the clear band of level `i`: back on the good side of its limit by the hysteresis. */
function clears(r: CompiledRule, i: number, v: number): boolean {
  const { a, b } = r.levels[i];
  const h = r.hysteresis;
  switch (r.kind) {
    case 'above':
      return v <= a - h;
    case 'below':
      return v >= a + h;
    case 'outside':
      return v >= a + h && v <= b - h;
    case 'inside':
      return v < a - h || v > b + h;
  }
}

/** The highest level the value raises, -1 for none. */
function raisedLevel(r: CompiledRule, v: number): number {
  for (let i = r.levels.length - 1; i >= 0; i--) if (raises(r, i, v)) return i;
  return -1;
}

/** The highest level whose clear band the value is not in (the level an alarm may stay at), -1 for none. */
function keptLevel(r: CompiledRule, v: number): number {
  for (let i = r.levels.length - 1; i >= 0; i--) if (!clears(r, i, v)) return i;
  return -1;
}

export function freshState(ruleId: string, deviceId: string): EvalState {
  return {
    ruleId,
    deviceId,
    phase: 'ok',
    level: -1,
    severity: null,
    reason: 'threshold',
    pendingSince: null,
    upSince: null,
    upLevel: -1,
    clearSince: null,
    clearTo: -1,
    lastTs: null,
    lastValue: null,
    silent: false,
    alarmId: null,
  };
}

interface Slot {
  readonly rule: CompiledRule;
  readonly state: EvalState;
  /** Start of the no-data clock when no reading came yet (or the evaluator started after the last one: grace). */
  readonly since: number;
}

export interface EvaluatorOptions {
  /** Readings older than this (against the gateway's clock) are not evaluated: they come too late to matter. */
  latenessMs: number;
}

/**
 * Evaluates rules against readings, by the readings' own timestamps (clamped to the gateway's clock), with a
 * ticker for what happens without readings: `for` durations, clear waits, no data. Between readings a value holds
 * (a constant value keeps an alarm pending, then raises it). Pure: time comes in as arguments, results go out
 * through the {@link EvaluatorSink}.
 *
 * Readings are matched through a per-device index of slots (one per rule watching the device), so a reading costs
 * one map lookup when its device has no rules, and O(rules of the device) otherwise; no allocation unless a
 * transition happens.
 */
export class AlarmEvaluator {
  private index = new Map<string, Slot[]>();
  /** Readings not evaluated: older than the lateness bound, or older than the slot's last reading. */
  late = 0;

  constructor(
    private readonly sink: EvaluatorSink,
    private readonly options: EvaluatorOptions,
  ) {}

  /**
   * Replaces the rules. Slots of (rule, device) pairs that remain keep their state (or take the `saved` one, at
   * start); the others start fresh. `devices`: the registered devices with their labels, for tag selectors.
   * Returns the states of slots that went away (their rule was removed or no longer selects the device).
   */
  setRules(
    rules: readonly AlarmRule[],
    devices: readonly DeviceLabels[],
    now: number,
    saved: readonly EvalState[] = [],
  ): EvalState[] {
    const old = new Map<string, Slot>();
    for (const slots of this.index.values()) for (const s of slots) old.set(slotKey(s.rule.id, s.state.deviceId), s);
    const restored = new Map(saved.map((s) => [slotKey(s.ruleId, s.deviceId), s]));
    const index = new Map<string, Slot[]>();
    for (const rule of rules) {
      if (!rule.enabled) continue;
      const compiled = compileRule(rule);
      for (const deviceId of selectDevices(rule, devices)) {
        const key = slotKey(rule.id, deviceId);
        const prev = old.get(key);
        old.delete(key);
        const state = prev?.state ?? restored.get(key) ?? freshState(rule.id, deviceId);
        // A rule edited to other levels may leave a level index that no longer exists.
        if (state.level >= compiled.levels.length) state.level = compiled.levels.length - 1;
        const slot: Slot = { rule: compiled, state, since: prev?.since ?? now };
        let list = index.get(deviceId);
        if (list === undefined) index.set(deviceId, (list = []));
        list.push(slot);
      }
    }
    this.index = index;
    return [...old.values()].map((s) => s.state);
  }

  /** Evaluates one reading. `now`: the gateway's clock (time of receipt). */
  observe(deviceId: string, ts: number, metrics: Record<string, number>, now: number): void {
    const slots = this.index.get(deviceId);
    if (slots === undefined) return;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      const v = metrics[slot.rule.metric];
      if (v === undefined) continue;
      this.step(slot, Math.min(ts, now), v, now);
    }
  }

  /** Advances the clocks: call every tick (and once at start, to fire what came due while the gateway was down). */
  tick(now: number): void {
    for (const slots of this.index.values()) for (let i = 0; i < slots.length; i++) this.tickSlot(slots[i], now);
  }

  /** Every slot's state (for tests and the service's bookkeeping). */
  states(): EvalState[] {
    const out: EvalState[] = [];
    for (const slots of this.index.values()) for (const s of slots) out.push(s.state);
    return out;
  }

  state(ruleId: string, deviceId: string): EvalState | undefined {
    return this.index.get(deviceId)?.find((s) => s.rule.id === ruleId)?.state;
  }

  /** An operator closed the alarm by hand: the slot starts over (a condition that still holds raises anew). */
  reset(ruleId: string, deviceId: string): void {
    const slot = this.index.get(deviceId)?.find((s) => s.rule.id === ruleId);
    if (slot === undefined) return;
    Object.assign(slot.state, freshState(ruleId, deviceId), {
      lastTs: slot.state.lastTs,
      lastValue: slot.state.lastValue,
      silent: slot.state.silent,
    });
    this.sink.changed(slot.rule, slot.state);
  }

  /** Whether any rule watches the device. */
  watches(deviceId: string): boolean {
    return this.index.has(deviceId);
  }

  private step(slot: Slot, t: number, v: number, now: number): void {
    const s = slot.state;
    const r = slot.rule;
    if (t < now - this.options.latenessMs || (s.lastTs !== null && t < s.lastTs)) {
      this.late++;
      return;
    }
    if (r.rate) {
      const prevTs = s.lastTs;
      const prev = s.lastRaw ?? null;
      s.lastRaw = v;
      s.lastTs = t;
      s.silent = false;
      // The first reading (or one at the same instant) gives no rate yet.
      if (prev === null || prevTs === null || t === prevTs) return;
      v = ((v - prev) * 1000) / (t - prevTs);
    }
    s.lastTs = t;
    s.lastValue = v;
    s.silent = false;
    if (s.phase === 'firing' && s.reason === 'no_data') {
      // Data is back: the no-data alarm is over; the value is then judged on its own.
      this.toOk(slot, t, 'cleared');
    }
    const target = raisedLevel(r, v);
    if (s.phase === 'ok') {
      if (target < 0) return;
      s.phase = 'pending';
      s.level = target;
      s.severity = r.levels[target].severity;
      s.reason = 'threshold';
      s.pendingSince = t;
      this.sink.transition('pending', r, s, t);
      this.duePending(slot, t);
      return;
    }
    if (s.phase === 'pending') {
      if (target < 0) {
        this.toOk(slot, t, 'cancelled');
        return;
      }
      s.level = target;
      s.severity = r.levels[target].severity;
      this.duePending(slot, t);
      return;
    }
    // Firing.
    const kept = keptLevel(r, v);
    if (target > s.level) {
      if (s.upSince === null || s.upLevel !== target) {
        s.upSince = t;
        s.upLevel = target;
        if (!this.dueUp(slot, t)) this.sink.changed(r, s);
      } else this.dueUp(slot, t);
      return;
    }
    const timers = s.upSince !== null || (kept >= s.level && s.clearSince !== null);
    s.upSince = null;
    if (kept < s.level) {
      if (s.clearSince === null || s.clearTo !== kept) {
        // A clear wait starts at the first reading in the band; a different band (lower still) starts it over.
        if (s.clearSince === null) s.clearSince = t;
        s.clearTo = kept;
        if (!this.dueClear(slot, t)) this.sink.changed(r, s);
      } else this.dueClear(slot, t);
      return;
    }
    s.clearSince = null;
    if (timers) this.sink.changed(r, s);
  }

  private tickSlot(slot: Slot, now: number): void {
    const s = slot.state;
    if (s.phase === 'pending') this.duePending(slot, now);
    else if (s.phase === 'firing') {
      if (s.upSince !== null) this.dueUp(slot, now);
      else if (s.clearSince !== null) this.dueClear(slot, now);
    }
    const noData = slot.rule.rule.noData;
    if (noData === undefined || s.silent) return;
    const last = Math.max(s.lastTs ?? slot.since, slot.since);
    if (now - last < noData.afterMs) return;
    s.silent = true;
    if (noData.action === 'keep') {
      this.sink.changed(slot.rule, s);
    } else if (noData.action === 'ok') {
      if (s.phase === 'ok') this.sink.changed(slot.rule, s);
      else this.toOk(slot, now, s.phase === 'pending' ? 'cancelled' : 'cleared');
    } else if (s.phase === 'firing') {
      // Already raised on its value: that alarm stands for the silence too.
      this.sink.changed(slot.rule, s);
    } else {
      if (s.phase === 'pending') this.toOk(slot, now, 'cancelled');
      s.phase = 'firing';
      s.reason = 'no_data';
      s.level = -1;
      s.severity = noData.severity;
      s.pendingSince = now;
      this.sink.transition('pending', slot.rule, s, now);
      this.sink.transition('raised', slot.rule, s, now);
    }
  }

  private duePending(slot: Slot, t: number): boolean {
    const s = slot.state;
    if (t - s.pendingSince! < slot.rule.forMs) return false;
    s.phase = 'firing';
    this.sink.transition('raised', slot.rule, s, t);
    return true;
  }

  private dueUp(slot: Slot, t: number): boolean {
    const s = slot.state;
    if (t - s.upSince! < slot.rule.forMs) return false;
    s.level = s.upLevel;
    s.severity = slot.rule.levels[s.level].severity;
    s.upSince = null;
    s.upLevel = -1;
    s.clearSince = null;
    this.sink.transition('updated', slot.rule, s, t);
    return true;
  }

  private dueClear(slot: Slot, t: number): boolean {
    const s = slot.state;
    if (t - s.clearSince! < slot.rule.clearForMs) return false;
    const to = s.clearTo;
    s.clearSince = null;
    s.clearTo = -1;
    if (to < 0) {
      this.toOk(slot, t, 'cleared');
      return true;
    }
    s.level = to;
    s.severity = slot.rule.levels[to].severity;
    this.sink.transition('updated', slot.rule, s, t);
    return true;
  }

  private toOk(slot: Slot, t: number, kind: 'cancelled' | 'cleared'): void {
    const s = slot.state;
    s.phase = 'ok';
    s.pendingSince = null;
    s.upSince = null;
    s.upLevel = -1;
    s.clearSince = null;
    s.clearTo = -1;
    // The sink sees the level it leaves (what was pending or firing); the state is ok from here.
    this.sink.transition(kind, slot.rule, s, t);
    s.level = -1;
    s.severity = null;
    s.reason = 'threshold';
    s.alarmId = null;
  }
}

const slotKey = (ruleId: string, deviceId: string): string => `${ruleId}\0${deviceId}`;

/** The devices a rule selects: the ids it names, or the registered devices whose labels match its tags. */
export function selectDevices(rule: AlarmRule, devices: readonly DeviceLabels[]): string[] {
  const sel = rule.devices;
  if (typeof sel === 'string') return [sel];
  if (Array.isArray(sel)) return [...new Set(sel)];
  const pairs = Object.entries(sel.tags);
  return devices.filter((d) => pairs.every(([k, v]) => d.tags[k] === v)).map((d) => d.deviceId);
}

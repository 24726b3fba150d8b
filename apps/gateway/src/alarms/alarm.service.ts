import { randomUUID } from 'node:crypto';
import {
  type Alarm,
  type AlarmDetail,
  type AlarmEventPayload,
  type AlarmFilter,
  type AlarmRule,
  type AlarmRuleSpec,
  ErrorCode,
  FieldlineError,
  type Reading,
  SEVERITIES,
  type Severity,
} from '@fieldline/contracts';
import type { StateStore } from '../state/state.store';
import {
  AlarmEvaluator,
  type CompiledRule,
  type DeviceLabels,
  type EvalState,
  type EvaluatorSink,
  type TransitionKind,
} from './alarm.evaluator';
import { alertmanagerPayload, type WebhookOutbox } from './alarm.outbox';
import { type AlarmChange, AlarmStore, eventOf } from './alarm.store';

export interface AlarmsOptions {
  tickMs: number;
  latenessMs: number;
  /** How often the device labels (tag selectors) are read again. */
  refreshMs: number;
  /** Set: firing and resolved notices are written to the outbox (Alertmanager payload). */
  webhookUrl?: string | null;
}

interface Log {
  warn(message: string, fields?: Record<string, unknown>): void;
}

const key = (ruleId: string, deviceId: string): string => `${ruleId}\0${deviceId}`;

/**
 * Alarms: feeds readings to the {@link AlarmEvaluator}, turns its transitions into alarm instances in the state
 * store, and tells listeners (the `/alerts` namespace) about every change after it is stored. Store writes run one
 * after another on one queue, in the order the changes happened, so the sequence numbers handed out on the hot
 * path (synchronously) are the order of the stored history; the hot path never waits for them.
 */
export class AlarmService implements EvaluatorSink {
  readonly store: AlarmStore;
  readonly evaluator: AlarmEvaluator;
  /** Open (pending, active, acknowledged) alarms by rule and device, as they are after the changes so far. */
  private readonly open = new Map<string, Alarm>();
  private seq = 0;
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private lastRefresh = 0;
  private readonly listeners = new Set<(change: AlarmEventPayload) => void>();
  /** Store writes that failed (logged; the alarm's state in memory goes on). */
  writeErrors = 0;
  /** Called after a notice was written to the outbox (the outbox delivers it at once). */
  onNotice: (() => void) | null = null;
  /** The webhook outbox, started and stopped with the service. */
  outbox: WebhookOutbox | null = null;
  private readonly ruleNames = new Map<string, string>();

  constructor(
    state: StateStore,
    private readonly options: AlarmsOptions,
    private readonly log: Log,
    private readonly clock: () => number = Date.now,
  ) {
    this.store = new AlarmStore(state);
    this.evaluator = new AlarmEvaluator(this, { latenessMs: options.latenessMs });
  }

  /** Loads rules, saved evaluator state and open alarms; fires what came due while the gateway was down; ticks. */
  async start(): Promise<void> {
    const now = this.clock();
    const [rules, devices, saved, unclosed, seq] = await Promise.all([
      this.store.rules(),
      this.deviceLabels(),
      this.store.evalStates(),
      this.store.unclosed(),
      this.store.lastSeq(),
    ]);
    this.seq = seq;
    for (const a of unclosed)
      if (a.state === 'pending' || a.state === 'active' || a.state === 'acknowledged')
        this.open.set(key(a.ruleId, a.deviceId), a);
    this.lastRefresh = now;
    this.applyRules(rules, devices, now, saved);
    this.evaluator.tick(now);
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.timer.unref();
    this.outbox?.start();
  }

  /** Nest calls this as the app closes (lifecycle.ts closes the state store after). */
  onModuleDestroy(): Promise<void> {
    return this.stop();
  }

  /** Stops the ticker and waits for the queued store writes. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.queue;
    await this.outbox?.stop();
  }

  /** The hot path: one map lookup for a device without rules. */
  observe(r: Reading, receivedAt: number): void {
    this.evaluator.observe(r.deviceId, r.ts, r.metrics, receivedAt);
  }

  onChange(fn: (change: AlarmEventPayload) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get lastSeqNumber(): number {
    return this.seq;
  }

  /** Raised (active or acknowledged) alarms by severity, for the gauge. */
  openBySeverity(): Map<Severity, number> {
    const out = new Map<Severity, number>(SEVERITIES.map((s) => [s, 0]));
    for (const a of this.open.values()) if (a.state !== 'pending') out.set(a.severity, out.get(a.severity)! + 1);
    return out;
  }

  /** Resolves once every change so far is stored (tests, shutdown). */
  settled(): Promise<void> {
    return this.queue;
  }

  private tick(): void {
    const now = this.clock();
    if (now - this.lastRefresh >= this.options.refreshMs) {
      this.lastRefresh = now;
      void this.reload().catch((err: unknown) => this.log.warn(`alarms: reloading rules failed: ${String(err)}`));
    }
    this.evaluator.tick(now);
  }

  // --- rules ---

  async createRule(id: string | undefined, spec: AlarmRuleSpec, actor: string | null): Promise<AlarmRule> {
    const rule = await this.store.putRule(id ?? randomUUID(), spec, actor, this.clock(), true);
    await this.reload();
    return rule;
  }

  async updateRule(id: string, spec: AlarmRuleSpec, actor: string | null): Promise<AlarmRule> {
    const rule = await this.store.putRule(id, spec, actor, this.clock(), false);
    await this.reload();
    return rule;
  }

  async deleteRule(id: string, actor: string | null): Promise<boolean> {
    const done = await this.store.deleteRule(id, actor, this.clock());
    if (done) await this.reload();
    return done;
  }

  /** Reads rules and device labels again and re-indexes (states of pairs that remain are kept). */
  async reload(): Promise<void> {
    const [rules, devices] = await Promise.all([this.store.rules(), this.deviceLabels()]);
    this.applyRules(rules, devices, this.clock());
  }

  private applyRules(rules: AlarmRule[], devices: DeviceLabels[], now: number, saved?: EvalState[]): void {
    for (const r of rules) this.ruleNames.set(r.id, r.name);
    const gone = this.evaluator.setRules(rules, devices, now, saved);
    // A pair no rule watches any more: its open alarm is closed (nothing would ever clear it) and its state dropped.
    const orphans = saved
      ? (() => {
          const live = new Set(this.evaluator.states().map((s) => key(s.ruleId, s.deviceId)));
          return saved.filter((s) => !live.has(key(s.ruleId, s.deviceId)));
        })()
      : gone;
    for (const s of orphans) {
      const k = key(s.ruleId, s.deviceId);
      const alarm = this.open.get(k);
      this.open.delete(k);
      this.enqueue(async () => {
        if (alarm) await this.closeAlarm(alarm, now, null, 'rule removed or no longer selects the device');
        await this.store.dropEvalState(s.ruleId, s.deviceId);
      });
    }
    // Open alarms whose pair is not watched and has no saved state (e.g. state lost): closed too.
    for (const [k, alarm] of this.open) {
      if (this.evaluator.state(alarm.ruleId, alarm.deviceId) !== undefined) continue;
      this.open.delete(k);
      this.enqueue(() => this.closeAlarm(alarm, now, null, 'rule removed or no longer selects the device'));
    }
  }

  private async deviceLabels(): Promise<DeviceLabels[]> {
    const rows = await this.store.devices();
    return rows.map((r) => {
      const tags = JSON.parse(r.tags) as Record<string, string>;
      if (r.site !== null) tags.site = r.site;
      if (r.model !== null) tags.model = r.model;
      return { deviceId: r.device_id, tags };
    });
  }

  // --- the evaluator's sink ---

  transition(kind: TransitionKind, rule: CompiledRule, s: EvalState, at: number): void {
    const k = key(s.ruleId, s.deviceId);
    const now = this.clock();
    if (kind === 'pending') {
      const existing = this.open.get(k);
      if (existing) {
        // The store already holds an open alarm for the pair (saved state lost or older): carry on with it.
        s.alarmId = existing.id;
        this.enqueue(() => this.store.saveEvalState({ ...s }, now));
        return;
      }
      const alarm: Alarm = {
        id: randomUUID(),
        ruleId: s.ruleId,
        ruleVersion: rule.rule.version,
        deviceId: s.deviceId,
        metric: rule.metric,
        state: 'pending',
        severity: s.severity!,
        reason: s.reason,
        value: s.reason === 'no_data' ? null : s.lastValue,
        message: '',
        pendingAt: at,
        raisedAt: null,
        clearedAt: null,
        closedAt: null,
        acknowledgedAt: null,
        acknowledgedBy: null,
        shelvedUntil: null,
        seq: this.seq,
      };
      alarm.message = render(rule.rule, alarm);
      s.alarmId = alarm.id;
      this.open.set(k, alarm);
      const state = { ...s };
      this.enqueue(async () => {
        const stored = await this.store.open({ ...alarm }, state, now);
        if (stored.id !== alarm.id) {
          // Raced with an instance already in the store: the store's wins, one open alarm per pair.
          alarm.id = stored.id;
          s.alarmId = stored.id;
        }
      });
      return;
    }
    const alarm = this.open.get(k);
    if (alarm === undefined) {
      this.enqueue(() => this.store.saveEvalState({ ...s }, now));
      return;
    }
    if (kind === 'cancelled') {
      this.open.delete(k);
      const state = { ...s, alarmId: null, level: -1, severity: null };
      if (alarm.state === 'pending') this.enqueue(() => this.store.discard(alarm.id, state, now));
      else this.enqueue(() => this.store.saveEvalState(state, now));
      return;
    }
    if (kind === 'raised' && alarm.raisedAt !== null) {
      // Already raised in the store (the evaluator started over on an open alarm): never a second `raised`.
      if (alarm.severity === s.severity) {
        this.enqueue(() => this.store.saveEvalState({ ...s }, now));
        return;
      }
      kind = 'updated';
    }
    alarm.severity = s.severity!;
    alarm.reason = s.reason;
    alarm.value = s.reason === 'no_data' ? null : s.lastValue;
    alarm.message = render(rule.rule, alarm);
    if (kind === 'raised') {
      alarm.state = 'active';
      alarm.raisedAt = at;
    } else if (kind === 'cleared') {
      alarm.clearedAt = at;
      // An alarm someone already took care of needs nobody to close it; an unacknowledged one waits to be seen.
      if (alarm.acknowledgedAt !== null) {
        alarm.state = 'closed';
        alarm.closedAt = at;
      } else alarm.state = 'cleared';
      this.open.delete(k);
    }
    const state = kind === 'cleared' ? { ...s, alarmId: null, level: -1, severity: null } : { ...s };
    this.change(alarm, { at, action: kind, actor: null }, state);
  }

  changed(_rule: CompiledRule, s: EvalState): void {
    const state = { ...s };
    const now = this.clock();
    this.enqueue(() => this.store.saveEvalState(state, now));
  }

  // --- operators ---

  list(q: AlarmFilter): Promise<Alarm[]> {
    return this.store.list(q);
  }

  detail(id: string): Promise<AlarmDetail | undefined> {
    return this.store.detail(id);
  }

  acknowledge(id: string, actor: string, comment?: string): Promise<Alarm> {
    return this.act(id, (a, now) => {
      if (a.state === 'pending') throw conflict(a, 'is pending: not raised yet');
      if (a.state === 'closed') throw conflict(a, 'is closed');
      if (a.state === 'acknowledged') return null;
      a.acknowledgedAt = now;
      a.acknowledgedBy = actor;
      if (a.state === 'cleared') {
        a.state = 'closed';
        a.closedAt = now;
        return { action: 'closed', actor, comment };
      }
      a.state = 'acknowledged';
      return { action: 'acknowledged', actor, comment };
    });
  }

  /** Closes the alarm by hand; the rule starts over on that device (a condition that still holds raises anew). */
  clear(id: string, actor: string, comment?: string): Promise<Alarm> {
    return this.act(id, (a, now) => {
      if (a.state === 'pending') throw conflict(a, 'is pending: not raised yet');
      if (a.state === 'closed') throw conflict(a, 'is closed');
      const resolves = a.state !== 'cleared';
      if (resolves) {
        a.clearedAt = now;
        this.open.delete(key(a.ruleId, a.deviceId));
        this.evaluator.reset(a.ruleId, a.deviceId);
      }
      a.state = 'closed';
      a.closedAt = now;
      return { action: 'closed', actor, comment, resolves };
    });
  }

  shelve(id: string, until: number, actor: string, comment?: string): Promise<Alarm> {
    return this.act(id, (a) => {
      if (a.state === 'closed') throw conflict(a, 'is closed');
      a.shelvedUntil = until;
      return { action: 'shelved', actor, comment };
    });
  }

  comment(id: string, actor: string, comment: string): Promise<Alarm> {
    return this.act(id, () => ({ action: 'commented', actor, comment }));
  }

  /**
   * Runs an operator's change on the queue, after the evaluator's changes so far, against the alarm as it is then
   * (the open one in memory, or the stored one). `change` returns null when there is nothing to do.
   */
  private act(
    id: string,
    change: (a: Alarm, now: number) => (Omit<AlarmChange, 'seq' | 'at'> & { resolves?: boolean }) | null,
  ): Promise<Alarm> {
    return new Promise((resolve, reject) => {
      this.enqueue(async () => {
        try {
          const now = this.clock();
          const live = [...this.open.values()].find((a) => a.id === id);
          const alarm = live ?? (await this.store.alarm(id));
          if (!alarm) throw new FieldlineError(ErrorCode.NOT_FOUND, `no alarm "${id}"`);
          const c = change(alarm, now);
          if (c) {
            const { resolves, ...rest } = c;
            await this.write(alarm, { ...rest, at: now }, null, resolves);
          }
          resolve({ ...alarm });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
  }

  private async closeAlarm(alarm: Alarm, now: number, actor: string | null, comment: string): Promise<void> {
    const resolves = alarm.state === 'active' || alarm.state === 'acknowledged';
    alarm.state = 'closed';
    alarm.closedAt = now;
    alarm.clearedAt ??= now;
    await this.write(alarm, { at: now, action: 'closed', actor, comment }, null, resolves);
  }

  /** Queues the write of a change made by the evaluator (synchronously numbered). */
  private change(alarm: Alarm, c: Omit<AlarmChange, 'seq'>, state: EvalState | null): void {
    const seq = ++this.seq;
    alarm.seq = seq;
    const snapshot = { ...alarm };
    const now = this.clock();
    const shelved = alarm.shelvedUntil !== null && alarm.shelvedUntil > now;
    const notify = c.action === 'cleared' || (c.action === 'raised' && !shelved);
    this.enqueue(async () => {
      snapshot.id = alarm.id;
      const evalState = state && { ...state, alarmId: state.alarmId && alarm.id };
      await this.store.record(snapshot, { ...c, seq }, evalState, now, notify ? this.notice(snapshot) : null);
      this.emit({ seq, event: eventOf(c.action), alarm: snapshot });
      if (notify) this.onNotice?.();
    });
  }

  /**
   * A change made on the queue (operators, closes): numbered, stored and told now. `resolves`: it ends a raised
   * alarm that had not cleared (a manual clear, a removed rule), so a resolved notice goes out.
   */
  private async write(
    alarm: Alarm,
    c: Omit<AlarmChange, 'seq'>,
    state: EvalState | null,
    resolves = false,
  ): Promise<void> {
    const seq = ++this.seq;
    alarm.seq = seq;
    const snapshot = { ...alarm };
    const notice = resolves ? this.notice(snapshot) : null;
    await this.store.record(snapshot, { ...c, seq }, state, this.clock(), notice);
    this.emit({ seq, event: eventOf(c.action), alarm: snapshot });
    if (notice !== null) this.onNotice?.();
  }

  /** The outbox body of a change, or null without a webhook. */
  private notice(alarm: Alarm): string | null {
    if (!this.options.webhookUrl) return null;
    return JSON.stringify(alertmanagerPayload(alarm, this.ruleNames.get(alarm.ruleId) ?? alarm.ruleId, ''));
  }

  private emit(change: AlarmEventPayload): void {
    for (const fn of this.listeners) fn(change);
  }

  private enqueue(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((err: unknown) => {
      this.writeErrors++;
      this.log.warn(`alarms: store write failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  }
}

function conflict(a: Alarm, why: string): FieldlineError {
  return new FieldlineError(ErrorCode.CONFLICT, `alarm ${a.id} ${why}`, { state: a.state });
}

/** Fills the rule's template. */
export function render(rule: AlarmRule, a: Alarm): string {
  const fields: Record<string, string> = {
    device: a.deviceId,
    metric: a.metric,
    value: a.value === null ? 'no data' : String(a.value),
    severity: a.severity,
    rule: rule.name,
  };
  return rule.template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, name: string) => fields[name] ?? m);
}

import { type AlarmRule, AlarmRuleInputSchema, type AlarmRuleInput } from '@fieldline/contracts';
import {
  AlarmEvaluator,
  type DeviceLabels,
  type EvalState,
  type EvaluatorSink,
  selectDevices,
} from './alarm.evaluator';

function rule(input: Partial<AlarmRuleInput> & { id?: string }): AlarmRule {
  const spec = AlarmRuleInputSchema.parse({
    name: 'temp',
    devices: 'd1',
    metric: 't',
    condition: { kind: 'above', levels: [{ severity: 'warning', threshold: 80 }] },
    ...input,
  });
  return { ...spec, id: input.id ?? 'r1', version: 1, updatedAt: 0, updatedBy: null };
}

class Recorder implements EvaluatorSink {
  events: string[] = [];
  saves = 0;
  transition(kind: string, _r: unknown, s: EvalState, at: number): void {
    this.events.push(`${kind}:${s.severity}@${at}`);
  }
  changed(): void {
    this.saves++;
  }
}

function setup(
  r: AlarmRule,
  latenessMs = 60_000,
): { ev: AlarmEvaluator; sink: Recorder; feed: (ts: number, v: number, now?: number) => void } {
  const sink = new Recorder();
  const ev = new AlarmEvaluator(sink, { latenessMs });
  ev.setRules([r], [], 0);
  return { ev, sink, feed: (ts, v, now = ts) => ev.observe('d1', ts, { t: v }, now) };
}

describe('AlarmEvaluator', () => {
  it('raises only after the condition held for the `for` duration, and a dip resets it', () => {
    const { sink, feed } = setup(rule({ forMs: 10_000 }));
    feed(1000, 81);
    feed(5000, 79); // dip: pending cancelled
    feed(6000, 90);
    feed(15_000, 90);
    expect(sink.events).toEqual(['pending:warning@1000', 'cancelled:warning@5000', 'pending:warning@6000']);
    feed(16_000, 85);
    expect(sink.events.at(-1)).toBe('raised:warning@16000');
  });

  it('raises on the ticker when a constant value holds without further readings', () => {
    const { ev, sink, feed } = setup(rule({ forMs: 10_000 }));
    feed(1000, 81);
    ev.tick(10_999);
    expect(sink.events).toEqual(['pending:warning@1000']);
    ev.tick(11_000);
    expect(sink.events).toEqual(['pending:warning@1000', 'raised:warning@11000']);
    ev.tick(20_000);
    expect(sink.events).toHaveLength(2);
  });

  it('clears only in the clear band (hysteresis) held for the clear duration', () => {
    const { ev, sink, feed } = setup(rule({ clear: { hysteresis: 5, forMs: 5000 } }));
    feed(0, 81);
    expect(sink.events).toEqual(['pending:warning@0', 'raised:warning@0']);
    feed(1000, 78); // below the threshold, above the clear limit 75: still raised, no wait
    ev.tick(20_000);
    expect(sink.events).toHaveLength(2);
    feed(21_000, 74); // clear wait starts
    feed(23_000, 76); // back out of the band: the wait is over
    ev.tick(30_000);
    expect(sink.events).toHaveLength(2);
    feed(31_000, 70);
    ev.tick(35_999);
    expect(sink.events).toHaveLength(2);
    ev.tick(36_000);
    expect(sink.events.at(-1)).toBe('cleared:warning@36000');
  });

  it('steps severity up after `for` and down through each level’s clear band', () => {
    const levels = [
      { severity: 'critical' as const, threshold: 100 },
      { severity: 'warning' as const, threshold: 80 },
      { severity: 'major' as const, threshold: 90 },
    ];
    const { ev, sink, feed } = setup(
      rule({ forMs: 2000, condition: { kind: 'above', levels }, clear: { hysteresis: 2, forMs: 1000 } }),
    );
    feed(0, 85);
    feed(2000, 85);
    feed(3000, 105); // step-up wait
    ev.tick(4999);
    expect(sink.events).toEqual(['pending:warning@0', 'raised:warning@2000']);
    ev.tick(5000);
    expect(sink.events.at(-1)).toBe('updated:critical@5000');
    feed(6000, 95); // below critical's clear limit 98, above major's 88: steps down to major after 1 s
    ev.tick(7000);
    expect(sink.events.at(-1)).toBe('updated:major@7000');
    feed(8000, 70);
    ev.tick(9000);
    expect(sink.events.at(-1)).toBe('cleared:major@9000');
  });

  it('raises directly at the highest level held, and a pending alarm follows the value', () => {
    const { sink, feed } = setup(
      rule({
        forMs: 1000,
        condition: {
          kind: 'above',
          levels: [
            { severity: 'warning', threshold: 80 },
            { severity: 'critical', threshold: 100 },
          ],
        },
      }),
    );
    feed(0, 85);
    feed(500, 120);
    feed(1000, 120);
    expect(sink.events).toEqual(['pending:warning@0', 'raised:critical@1000']);
  });

  it('range conditions: outside raises, inside the narrowed band clears', () => {
    const { sink, feed } = setup(
      rule({
        condition: { kind: 'outside', levels: [{ severity: 'major', low: 10, high: 20 }] },
        clear: { hysteresis: 1, forMs: 0 },
      }),
    );
    feed(0, 9);
    feed(1, 10.5); // in range but not yet 1 inside it
    feed(2, 15);
    expect(sink.events).toEqual(['pending:major@0', 'raised:major@0', 'cleared:major@2']);
  });

  it('inside raises while the value is in the band', () => {
    const { sink, feed } = setup(
      rule({ condition: { kind: 'inside', levels: [{ severity: 'warning', low: 0, high: 5 }] } }),
    );
    feed(0, 3);
    feed(1, 6);
    expect(sink.events).toEqual(['pending:warning@0', 'raised:warning@0', 'cleared:warning@1']);
  });

  it('rate of change: raises on a rise faster than the threshold per second, clears when it slows', () => {
    const { sink, feed } = setup(
      rule({ condition: { kind: 'rate_above', levels: [{ severity: 'major', threshold: 2 }] } }),
    );
    feed(0, 10);
    feed(1000, 11); // 1/s
    expect(sink.events).toEqual([]);
    feed(2000, 15); // 4/s
    feed(4000, 16); // 0.5/s
    expect(sink.events).toEqual(['pending:major@2000', 'raised:major@2000', 'cleared:major@4000']);
    const down = setup(rule({ condition: { kind: 'rate_below', levels: [{ severity: 'warning', threshold: -1 }] } }));
    down.feed(0, 10);
    down.feed(500, 8); // -4/s
    expect(down.sink.events).toEqual(['pending:warning@500', 'raised:warning@500']);
  });

  it('no data → alarm: raised once after the silence, cleared when data is back', () => {
    const { ev, sink, feed } = setup(rule({ noData: { afterMs: 30_000, action: 'alarm', severity: 'critical' } }));
    feed(1000, 50);
    ev.tick(30_999);
    expect(sink.events).toEqual([]);
    ev.tick(31_000);
    ev.tick(60_000);
    expect(sink.events).toEqual(['pending:critical@31000', 'raised:critical@31000']);
    feed(61_000, 50);
    expect(sink.events.at(-1)).toBe('cleared:critical@61000');
  });

  it('no data → ok clears a raised alarm; → keep leaves it', () => {
    const ok = setup(rule({ noData: { afterMs: 5000, action: 'ok' } }));
    ok.feed(0, 90);
    ok.ev.tick(5000);
    expect(ok.sink.events).toEqual(['pending:warning@0', 'raised:warning@0', 'cleared:warning@5000']);
    const keep = setup(rule({ noData: { afterMs: 5000, action: 'keep' } }));
    keep.feed(0, 90);
    keep.ev.tick(5000);
    keep.ev.tick(50_000);
    expect(keep.sink.events).toEqual(['pending:warning@0', 'raised:warning@0']);
  });

  it('a device that never reported gets its no-data alarm afterMs from the start (grace), not at once', () => {
    const sink = new Recorder();
    const ev = new AlarmEvaluator(sink, { latenessMs: 60_000 });
    ev.setRules([rule({ noData: { afterMs: 10_000, action: 'alarm' } })], [], 100_000);
    ev.tick(100_000);
    ev.tick(109_999);
    expect(sink.events).toEqual([]);
    ev.tick(110_000);
    expect(sink.events).toEqual(['pending:major@110000', 'raised:major@110000']);
  });

  it('restored state older than the start gets the grace too', () => {
    const sink = new Recorder();
    const ev = new AlarmEvaluator(sink, { latenessMs: 60_000 });
    const saved: EvalState = { ...setup(rule({})).ev.states()[0], lastTs: 1000 };
    ev.setRules([rule({ noData: { afterMs: 10_000, action: 'alarm' } })], [], 500_000, [saved]);
    ev.tick(505_000);
    expect(sink.events).toEqual([]);
    ev.tick(510_000);
    expect(sink.events).toHaveLength(2);
  });

  it('ignores readings beyond the lateness bound and readings older than the last one', () => {
    const { ev, sink, feed } = setup(rule({ forMs: 0 }), 5000);
    feed(10_000, 50, 10_000);
    feed(4000, 99, 10_000); // 6 s late
    feed(9000, 99, 10_000); // older than the last reading
    expect(sink.events).toEqual([]);
    expect(ev.late).toBe(2);
    feed(7000, 99, 20_000); // too late against the clock
    expect(ev.late).toBe(3);
  });

  it('clamps a reading from the future to the gateway clock', () => {
    const { ev, sink, feed } = setup(rule({ forMs: 5000 }));
    feed(1_000_000, 90, 1000);
    ev.tick(6000);
    expect(sink.events).toEqual(['pending:warning@1000', 'raised:warning@6000']);
  });

  it('resumes a restored pending state: fires at pendingSince + for, once', () => {
    const r = rule({ forMs: 10_000 });
    const first = setup(r);
    first.feed(1000, 90);
    const saved = first.ev.states().map((s) => ({ ...s }));
    const sink = new Recorder();
    const ev = new AlarmEvaluator(sink, { latenessMs: 60_000 });
    ev.setRules([r], [], 5000, saved);
    ev.tick(5000);
    ev.tick(10_999);
    expect(sink.events).toEqual([]);
    ev.tick(11_000);
    ev.tick(12_000);
    expect(sink.events).toEqual(['raised:warning@11000']);
  });

  it('costs nothing for devices without rules and keeps state across a rule reload', () => {
    const { ev, sink, feed } = setup(rule({ forMs: 10_000 }));
    ev.observe('other', 0, { t: 1000 }, 0);
    expect(ev.watches('other')).toBe(false);
    feed(0, 90);
    ev.setRules([rule({ forMs: 10_000 })], [], 5000);
    ev.tick(10_000);
    expect(sink.events).toEqual(['pending:warning@0', 'raised:warning@10000']);
  });

  it('reset after a manual close raises anew while the condition holds', () => {
    const { ev, sink, feed } = setup(rule({ forMs: 1000 }));
    feed(0, 90);
    feed(1000, 90);
    ev.reset('r1', 'd1');
    feed(2000, 90);
    feed(3000, 90);
    expect(sink.events).toEqual([
      'pending:warning@0',
      'raised:warning@1000',
      'pending:warning@2000',
      'raised:warning@3000',
    ]);
  });

  it('saves timer changes that are not transitions (clear wait start)', () => {
    const { sink, feed } = setup(rule({ clear: { hysteresis: 0, forMs: 5000 } }));
    feed(0, 90);
    const before = sink.saves;
    feed(1000, 10);
    expect(sink.saves).toBe(before + 1);
  });
});

describe('selectDevices', () => {
  const devices: DeviceLabels[] = [
    { deviceId: 'a', tags: { site: 'north', model: 'x' } },
    { deviceId: 'b', tags: { site: 'south' } },
    { deviceId: 'c', tags: { site: 'north' } },
  ];
  it('takes one id, a list, or every device matching all tags', () => {
    expect(selectDevices(rule({ devices: 'z' }), devices)).toEqual(['z']);
    expect(selectDevices(rule({ devices: ['a', 'b', 'a'] }), devices)).toEqual(['a', 'b']);
    expect(selectDevices(rule({ devices: { tags: { site: 'north' } } }), devices)).toEqual(['a', 'c']);
    expect(selectDevices(rule({ devices: { tags: { site: 'north', model: 'x' } } }), devices)).toEqual(['a']);
  });
});

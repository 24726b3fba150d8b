import { evaluateGoals, GOALS } from './goals';
import { THRESHOLDS } from './thresholds';
import { ingest } from './results.testing';
import type { FanoutLevel, FanoutResult } from './scenarios/fanout';
import type { HistoryResult, QueryTiming } from './scenarios/history';

function fanout(sockets: number, kbPerSocket: number, deliveredShare = 1): FanoutResult {
  return { runs: [{ target: 'gateway', levels: [{ sockets, kbPerSocket, deliveredShare } as FanoutLevel] }] } as never;
}

function history(readingsBig: number, p50Ms: number): HistoryResult {
  const q = { name: 'REST aggregate, 1 metric', size: 1000, coldMs: p50Ms, p50Ms, maxMs: p50Ms } as QueryTiming;
  return { readingsBig, queries: [q] } as never;
}

describe('goals', () => {
  it('judges the goals from the runs', () => {
    const goals = evaluateGoals({ ingest });
    const byName = (s: string) => goals.find((g) => g.goal.includes(s))!;
    expect(byName('20,000')).toMatchObject({ met: true });
    expect(byName('bare-broker')).toMatchObject({ met: true });
    expect(byName('bare-broker').measured).toContain('0.67× aedes');
    expect(byName('p50')).toMatchObject({ met: false });
  });

  it('words each goal from its thresholds, as the published tables read', () => {
    expect(GOALS.map((g) => g.goal)).toEqual([
      '≥ 20,000 readings/s validated, stored and delivered, nothing lost',
      '≥ 0.6 of the bare-broker rate',
      'p50 ≤ 5 ms and p99 ≤ 25 ms at 10,000 readings/s (MQTT)',
      '5,000 operator sockets at ≤ 20 KB each',
      'history: 1,000-point aggregate over 2.6M readings ≤ 200 ms',
    ]);
    expect(new Set(GOALS.map((g) => g.id)).size).toBe(GOALS.length);
  });

  it('leaves out the goals of scenarios the run did not include', () => {
    expect(evaluateGoals({})).toEqual([]);
    expect(evaluateGoals({ fanout: fanout(5000, 10) }).map((g) => g.id)).toEqual(['fanout-memory']);
  });

  it('judges fan-out memory only at the goal socket count, and delivery with it', () => {
    const { sockets, kbPerSocket } = THRESHOLDS.fanout;
    const met = (f: FanoutResult) => evaluateGoals({ fanout: f })[0].met;
    expect(met(fanout(sockets, kbPerSocket))).toBe(true);
    expect(met(fanout(sockets, kbPerSocket + 0.1))).toBe(false);
    expect(met(fanout(sockets, 1, 0.5))).toBe(false);
    expect(met(fanout(sockets - 1, 1))).toBeNull();
  });

  it('judges the history aggregate only on a full-size store', () => {
    const { readings, p50Ms } = THRESHOLDS.history;
    const verdict = (h: HistoryResult) => evaluateGoals({ history: h })[0];
    expect(verdict(history(readings, p50Ms))).toMatchObject({ met: true });
    expect(verdict(history(readings, p50Ms + 1))).toMatchObject({ met: false });
    expect(verdict(history(readings - 1, 1))).toMatchObject({ met: null });
    expect(verdict({ readingsBig: 0, queries: [], error: 'boom' } as never)).toMatchObject({
      measured: 'boom',
      met: null,
    });
  });
});

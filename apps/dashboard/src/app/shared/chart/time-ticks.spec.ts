import { tickLabel, timeTicks } from './time-ticks';

describe('timeTicks', () => {
  const at = (h: number, m: number, s = 0, day = 25): number => new Date(2026, 10, day, h, m, s).getTime();

  it('puts ticks on round times at most maxTicks apart', () => {
    const { step, ticks } = timeTicks(at(20, 25, 34), at(20, 30, 34), 8);
    expect(step).toBe(60_000);
    expect(ticks.map((t) => tickLabel(t, step))).toEqual(['20:26', '20:27', '20:28', '20:29', '20:30']);
  });

  it('uses seconds for short windows and dates for long ones', () => {
    const short = timeTicks(at(10, 0, 3), at(10, 0, 58), 6);
    expect(short.step).toBe(10_000);
    expect(tickLabel(short.ticks[0], short.step)).toBe('10:00:10');
    const week = timeTicks(at(13, 0, 0, 18), at(13, 0, 0, 25), 8);
    expect(week.ticks.map((t) => tickLabel(t, week.step))).toEqual([
      'Nov 19',
      'Nov 20',
      'Nov 21',
      'Nov 22',
      'Nov 23',
      'Nov 24',
      'Nov 25',
    ]);
    const day = timeTicks(at(12, 10, 0, 24), at(12, 10, 0, 25), 6);
    expect(day.ticks.map((t) => tickLabel(t, day.step))).toEqual(['18:00', 'Nov 25', '06:00', '12:00']);
  });
});

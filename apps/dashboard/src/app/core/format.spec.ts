import { formatDuration, formatValue, relativeTime } from './format';

describe('format', () => {
  it('says how long ago', () => {
    const now = 1_000_000_000;
    expect(relativeTime(null, now)).toBe('never');
    expect(relativeTime(now - 500, now)).toBe('just now');
    expect(relativeTime(now - 12_000, now)).toBe('12 s ago');
    expect(relativeTime(now - 3 * 60_000, now)).toBe('3 min ago');
    expect(relativeTime(now - 5 * 3_600_000, now)).toBe('5 h ago');
    expect(relativeTime(now - 3 * 86_400_000, now)).toBe('3 d ago');
  });

  it('formats values and durations', () => {
    expect(formatValue(21.53456)).toBe('21.53');
    expect(formatValue(1234.5678)).toBe('1234.6');
    expect(formatValue(0.5)).toBe('0.5');
    expect(formatValue(undefined)).toBe('–');
    expect(formatDuration(500)).toBe('500 ms');
    expect(formatDuration(900_000)).toBe('15 min');
    expect(formatDuration(86_400_000)).toBe('1 d');
  });
});

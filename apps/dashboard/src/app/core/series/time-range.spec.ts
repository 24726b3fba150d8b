import { autoBucketMs } from '@fieldline/contracts/rest';
import { pointsFor, resolveRange, shownWindow } from './time-range';

describe('time ranges', () => {
  const now = Date.UTC(2026, 11, 2, 12, 0, 0);

  it('a preset slides: it ends now and keeps its length', () => {
    expect(resolveRange('1h', now)).toEqual({ from: now - 3_600_000, to: now, live: true, spanMs: 3_600_000 });
  });

  it('a fixed custom range keeps its bounds; live only while it ends in the future', () => {
    const past = { from: now - 7_200_000, to: now - 3_600_000 };
    expect(resolveRange('custom', now, past)).toEqual({ ...past, live: false, spanMs: null });
    const future = { from: now - 60_000, to: now + 60_000 };
    expect(resolveRange('custom', now, future)).toEqual({ ...future, live: true, spanMs: null });
    // Later on, the same window is where it was.
    expect(resolveRange('custom', now + 30_000, past)).toEqual({ ...past, live: false, spanMs: null });
  });

  it('a custom range that follows now slides like a preset: its length, ending now', () => {
    const picked = { from: now - 90 * 60_000, to: now - 5 * 60_000, follow: true };
    const later = now + 10 * 60_000;
    expect(resolveRange('custom', later, picked)).toEqual({
      from: later - 85 * 60_000,
      to: later,
      live: true,
      spanMs: 85 * 60_000,
    });
    // An empty window still falls back to the live 5 minutes.
    expect(resolveRange('custom', now, { from: now, to: now, follow: true }).spanMs).toBe(300_000);
  });

  it('the window shown: a sliding one where it is now, a fixed one as it is', () => {
    expect(shownWindow(resolveRange('5m', now), now + 1000)).toEqual({ from: now + 1000 - 300_000, to: now + 1000 });
    expect(shownWindow(resolveRange('custom', now, { from: 1, to: 2 }), now)).toEqual({ from: 1, to: 2 });
  });

  it('points per chart change with the width only when the bucket width does', () => {
    const hour = 3_600_000;
    expect(pointsFor(hour, 568)).toBe(360); // 10 s buckets
    expect(pointsFor(hour, 563)).toBe(360);
    expect(pointsFor(hour, 349)).toBe(240); // 15 s buckets
    expect(pointsFor(hour, 349)).toBe(Math.ceil(hour / autoBucketMs(0, hour, 349)));
    expect(pointsFor(300_000, 568)).toBe(pointsFor(300_000, 349)); // 1 s buckets at both widths
  });
});

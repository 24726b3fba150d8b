/** A counter's rate over about the last second, from samples taken at most every 100 ms. */
export class RateMeter {
  /** [time, count] samples covering a little more than the last second. */
  private readonly samples: [number, number][] = [];

  /** Records `count` (a running total) at `now`. */
  sample(now: number, count: number): void {
    const s = this.samples;
    const last = s[s.length - 1];
    if (last && now - last[0] < 100) return;
    s.push([now, count]);
    // Keep the newest sample that is at least a second old, and everything after it.
    while (s.length > 2 && s[1][0] <= now - 1000) s.shift();
  }

  /** Per second, from the oldest kept sample to `count` at `now`. */
  rate(now: number, count: number): number {
    const first = this.samples[0];
    if (!first || now - first[0] < 1) return 0;
    return ((count - first[1]) * 1000) / (now - first[0]);
  }
}

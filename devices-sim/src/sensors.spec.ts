import { mulberry32, SensorModel } from './sensors';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 5, 1);

function series(model: SensorModel, from: number, stepMs: number, n: number) {
  return Array.from({ length: n }, (_, i) => model.sample(from + i * stepMs));
}

function correlation(xs: number[], ys: number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

describe('mulberry32', () => {
  it('repeats a sequence for a seed and spreads over [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
  });
});

describe('SensorModel', () => {
  it('is deterministic for a seed and device id', () => {
    const a = series(new SensorModel('dev-1', { seed: 7 }), T0, 1000, 500);
    const b = series(new SensorModel('dev-1', { seed: 7 }), T0, 1000, 500);
    expect(b).toEqual(a);
    expect(series(new SensorModel('dev-1', { seed: 8 }), T0, 1000, 500)).not.toEqual(a);
    expect(series(new SensorModel('dev-2', { seed: 7 }), T0, 1000, 500)).not.toEqual(a);
  });

  it('gives each device its own offset', () => {
    const means = ['a', 'b', 'c', 'd', 'e'].map((id) => {
      const s = series(new SensorModel(id, { spikeProbability: 0 }), T0, 60_000, 1440);
      return s.reduce((sum, m) => sum + m.temperature, 0) / s.length;
    });
    expect(new Set(means.map((m) => m.toFixed(1))).size).toBeGreaterThan(1);
  });

  it('stays in plausible ranges', () => {
    for (const id of ['x1', 'x2', 'x3']) {
      const s = series(new SensorModel(id, { spikeProbability: 0 }), T0, 60_000, 3 * 1440);
      const range = (k: keyof (typeof s)[number]) => [Math.min(...s.map((m) => m[k])), Math.max(...s.map((m) => m[k]))];
      const [tMin, tMax] = range('temperature');
      const [hMin, hMax] = range('humidity');
      const [bMin, bMax] = range('battery');
      expect(tMin).toBeGreaterThan(5);
      expect(tMax).toBeLessThan(40);
      expect(hMin).toBeGreaterThanOrEqual(5);
      expect(hMax).toBeLessThanOrEqual(100);
      expect(bMin).toBeGreaterThanOrEqual(0);
      expect(bMax).toBeLessThanOrEqual(100);
      expect(s.every((m) => Object.values(m).every(Number.isFinite))).toBe(true);
    }
  });

  it('follows a daily cycle', () => {
    const model = new SensorModel('cycle', { spikeProbability: 0 });
    // Hourly means over one day: warmest and coldest hours lie about 12 h apart, with a swing of several degrees.
    const hourly = Array.from({ length: 24 }, (_, h) => {
      const s = series(model, T0 + h * 3_600_000, 60_000, 60);
      return s.reduce((sum, m) => sum + m.temperature, 0) / s.length;
    });
    const hot = hourly.indexOf(Math.max(...hourly));
    const cold = hourly.indexOf(Math.min(...hourly));
    expect(Math.max(...hourly) - Math.min(...hourly)).toBeGreaterThan(3);
    const apart = Math.abs(hot - cold);
    expect(Math.min(apart, 24 - apart)).toBeGreaterThanOrEqual(9);
    expect(model.dailyCycle(T0 + 5 * 3_600_000)).toBeCloseTo(model.dailyCycle(T0 + 5 * 3_600_000 + DAY), 9);
  });

  it('makes humidity fall when temperature rises', () => {
    const s = series(new SensorModel('hum', { spikeProbability: 0 }), T0, 60_000, 1440);
    expect(
      correlation(
        s.map((m) => m.temperature),
        s.map((m) => m.humidity),
      ),
    ).toBeLessThan(-0.7);
  });

  it('spikes now and then (about 0.5 % of readings)', () => {
    const s = series(new SensorModel('spiky'), T0, 1000, 40_000);
    let spikes = 0;
    for (let i = 1; i < s.length - 1; i++) {
      const t = s[i].temperature;
      if (Math.abs(t - s[i - 1].temperature) > 5 && Math.abs(t - s[i + 1].temperature) > 5) spikes++;
    }
    expect(spikes).toBeGreaterThan(100);
    expect(spikes).toBeLessThan(320);
  });

  it('drains the battery slowly, then it is replaced', () => {
    const life = 3_600_000;
    const model = new SensorModel('bat', { batteryLifeMs: life });
    const levels = Array.from({ length: 241 }, (_, i) => model.battery(T0 + i * 30_000)); // two hours
    let resets = 0;
    for (let i = 1; i < levels.length; i++) {
      const d = levels[i] - levels[i - 1];
      if (d > 50) resets++;
      else expect(d).toBeLessThanOrEqual(0);
    }
    expect(resets).toBe(2);
    expect(Math.max(...levels)).toBeGreaterThan(99);
    expect(Math.min(...levels)).toBeLessThan(1);
    // A minute costs a fraction of a percent: slow.
    expect(model.battery(T0) - model.battery(T0 + 60_000)).toBeLessThan(2);
  });
});

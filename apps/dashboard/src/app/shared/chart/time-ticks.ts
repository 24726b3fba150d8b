const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Tick spacings, so that labels fall on round local times (…:00, …:15, 06:00, midnight). */
const STEPS = [
  SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  15 * SECOND,
  30 * SECOND,
  MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Ticks on round local times within `[min, max]`, at most `maxTicks` of them. */
export function timeTicks(min: number, max: number, maxTicks: number): { step: number; ticks: number[] } {
  const step = STEPS.find((s) => (max - min) / s <= Math.max(1, maxTicks)) ?? STEPS[STEPS.length - 1];
  const ticks: number[] = [];
  for (let t = alignUp(min, step); t <= max && ticks.length <= maxTicks + 1; t = next(t, step)) ticks.push(t);
  return { step, ticks };
}

/** A step as a Chart.js time unit and a count of it, so that the time scale need not work out a unit itself. */
export function stepUnit(step: number): { unit: 'second' | 'minute' | 'hour' | 'day'; count: number } {
  if (step >= DAY) return { unit: 'day', count: step / DAY };
  if (step >= HOUR) return { unit: 'hour', count: step / HOUR };
  if (step >= MINUTE) return { unit: 'minute', count: step / MINUTE };
  return { unit: 'second', count: step / SECOND };
}

/** The label of a tick: seconds when ticks are seconds apart, the date at midnight or when ticks are days apart. */
export function tickLabel(ts: number, step: number): string {
  const d = new Date(ts);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const midnight = d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
  if (step >= DAY || (step >= HOUR && midnight)) return `${MONTHS[d.getMonth()]} ${d.getDate()}`;
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return step < MINUTE ? `${hm}:${pad(d.getSeconds())}` : hm;
}

function alignUp(ts: number, step: number): number {
  const d = new Date(ts);
  if (step >= DAY) {
    d.setHours(0, 0, 0, 0);
    if (d.getTime() < ts) d.setDate(d.getDate() + 1);
    return d.getTime();
  }
  if (step >= HOUR) {
    d.setMinutes(0, 0, 0);
    if (d.getTime() < ts) d.setHours(d.getHours() + 1);
    while (d.getHours() % (step / HOUR) !== 0) d.setHours(d.getHours() + 1);
    return d.getTime();
  }
  // Sub-hour steps divide every zone's offset from UTC (whole quarter hours) or are whole minutes of it.
  const offset = -d.getTimezoneOffset() * MINUTE;
  return Math.ceil((ts + offset) / step) * step - offset;
}

function next(ts: number, step: number): number {
  if (step < DAY) return ts + step;
  const d = new Date(ts);
  d.setDate(d.getDate() + step / DAY); // a day is 23 or 25 hours across a DST change
  return d.getTime();
}

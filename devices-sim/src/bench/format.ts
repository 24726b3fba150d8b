/** Number and table formatting shared by the goals and the report: never prints NaN or Infinity. */

/** 12345.6 → "12,346"; NaN and null → "–". */
export function n0(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
}

/** One decimal below 100, none above; "–" for missing values. */
export function n1(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}

/** A ratio as "0.62×"; "–" when either side is missing or zero. */
export function ratio(a: number | null | undefined, b: number | null | undefined): string {
  const r = ratioValue(a, b);
  return r === null ? '–' : `${r.toFixed(2)}×`;
}

export function ratioValue(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * InfluxDB line protocol (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/), parsed
 * by hand: one pass over the characters of a line, no regular expression, so a hostile line costs time linear in its
 * length. `measurement[,tag=value...] field=value[,field=value...] [timestamp]`.
 */

/** Timestamp precisions of `/write?precision=` and `/api/v2/write?precision=`. */
export type LinePrecision = 'ns' | 'u' | 'ms' | 's' | 'm' | 'h';

export const LINE_PRECISIONS: readonly LinePrecision[] = ['ns', 'u', 'ms', 's', 'm', 'h'];

/** A field value: numbers and booleans are kept; a string is kept only so that the refusal can name it. */
export type LineFieldValue = number | boolean | { string: string };

export interface LinePoint {
  measurement: string;
  tags: [string, string][];
  fields: [string, LineFieldValue][];
  /** Epoch milliseconds (cut, not rounded, from the given precision); null when the line has no timestamp. */
  tsMs: number | null;
}

/** One line that could not be parsed: its number (1-based) and why. */
export interface LineError {
  line: number;
  message: string;
}

export interface ParsedLines {
  /** Points with the number (1-based) of the line each came from. */
  points: { line: number; point: LinePoint }[];
  errors: LineError[];
}

const BACKSLASH = 92;
const SPACE = 32;
const COMMA = 44;
const EQUALS = 61;
const QUOTE = 34;
const CR = 13;
const HASH = 35;

class LineSyntaxError extends Error {}

/** Digits a precision's timestamp has beyond milliseconds (cut), or the factor up to milliseconds. */
const TO_MS: Record<LinePrecision, { cut: number; mul: number }> = {
  ns: { cut: 6, mul: 1 },
  u: { cut: 3, mul: 1 },
  ms: { cut: 0, mul: 1 },
  s: { cut: 0, mul: 1000 },
  m: { cut: 0, mul: 60_000 },
  h: { cut: 0, mul: 3_600_000 },
};

/** Parses a body of lines; a bad line is reported and skipped, the others are kept (as InfluxDB does). */
export function parseLines(text: string, precision: LinePrecision = 'ns'): ParsedLines {
  const points: ParsedLines['points'] = [];
  const errors: LineError[] = [];
  let start = 0;
  let lineNo = 0;
  const n = text.length;
  while (start <= n) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = n;
    lineNo++;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === CR) stop--;
    // Leading blanks are allowed before a measurement, as InfluxDB allows them.
    let s = start;
    while (s < stop && (text.charCodeAt(s) === SPACE || text.charCodeAt(s) === 9)) s++;
    if (s < stop && text.charCodeAt(s) !== HASH) {
      try {
        points.push({ line: lineNo, point: parseLine(text, s, stop, precision) });
      } catch (err) {
        if (!(err instanceof LineSyntaxError)) throw err;
        errors.push({ line: lineNo, message: `line ${lineNo}: ${err.message} (${excerpt(text, s, stop)})` });
      }
    }
    if (end === n) break;
    start = end + 1;
  }
  return { points, errors };
}

/** Parses one line (`text[start, end)`, no newline). Throws {@link LineSyntaxError}. */
export function parseLine(text: string, start: number, end: number, precision: LinePrecision = 'ns'): LinePoint {
  const cur = { i: start };
  const measurement = readToken(text, cur, end, false);
  if (measurement === '') throw new LineSyntaxError('missing measurement');
  const tags: [string, string][] = [];
  while (cur.i < end && text.charCodeAt(cur.i) === COMMA) {
    cur.i++;
    const key = readToken(text, cur, end, true);
    if (key === '') throw new LineSyntaxError('missing tag key');
    if (cur.i >= end || text.charCodeAt(cur.i) !== EQUALS)
      throw new LineSyntaxError(`missing tag value for ${clip(key)}`);
    cur.i++;
    const value = readToken(text, cur, end, true);
    if (value === '') throw new LineSyntaxError(`missing tag value for ${clip(key)}`);
    tags.push([key, value]);
  }
  if (cur.i >= end || text.charCodeAt(cur.i) !== SPACE) throw new LineSyntaxError('missing fields');
  // Runs of blanks between the sections are allowed, as InfluxDB allows them.
  cur.i = skipSpaces(text, cur.i, end);
  if (cur.i >= end) throw new LineSyntaxError('missing fields');
  const fields: [string, LineFieldValue][] = [];
  for (;;) {
    const key = readToken(text, cur, end, true);
    if (key === '') throw new LineSyntaxError('missing field key');
    if (cur.i >= end || text.charCodeAt(cur.i) !== EQUALS)
      throw new LineSyntaxError(`missing value for field ${clip(key)}`);
    cur.i++;
    fields.push([key, readFieldValue(text, cur, end, key)]);
    if (cur.i < end && text.charCodeAt(cur.i) === COMMA) {
      cur.i++;
      continue;
    }
    break;
  }
  let tsMs: number | null = null;
  if (cur.i < end) {
    if (text.charCodeAt(cur.i) !== SPACE) throw new LineSyntaxError('unexpected character after the fields');
    const from = skipSpaces(text, cur.i, end);
    let to = from;
    while (to < end && text.charCodeAt(to) !== SPACE) to++;
    if (to > from) tsMs = readTimestamp(text, from, to, precision);
    if (skipSpaces(text, to, end) < end) throw new LineSyntaxError('unexpected text after the timestamp');
  }
  return { measurement, tags, fields, tsMs };
}

function skipSpaces(text: string, i: number, end: number): number {
  while (i < end && text.charCodeAt(i) === SPACE) i++;
  return i;
}

/**
 * A measurement, tag key, tag value or field key, up to an unescaped `,` or space (and `=` when `stopAtEquals`).
 * `\,` `\ ` `\=` (and `\\`) are escapes; a backslash before anything else is kept as it is.
 */
function readToken(text: string, cur: { i: number }, end: number, stopAtEquals: boolean): string {
  let out = '';
  let from = cur.i;
  let i = cur.i;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < end) {
      const d = text.charCodeAt(i + 1);
      if (d === COMMA || d === SPACE || d === EQUALS || d === BACKSLASH) {
        out += text.slice(from, i) + text[i + 1];
        i += 2;
        from = i;
        continue;
      }
      i++;
      continue;
    }
    if (c === COMMA || c === SPACE || (stopAtEquals && c === EQUALS)) break;
    i++;
  }
  cur.i = i;
  return out + text.slice(from, i);
}

function readFieldValue(text: string, cur: { i: number }, end: number, key: string): LineFieldValue {
  const i0 = cur.i;
  if (i0 >= end) throw new LineSyntaxError(`missing value for field ${clip(key)}`);
  if (text.charCodeAt(i0) === QUOTE) {
    // A string: `\"` and `\\` are escapes; it may hold spaces, commas and equals signs.
    let out = '';
    let i = i0 + 1;
    let from = i;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (
        c === BACKSLASH &&
        i + 1 < end &&
        (text.charCodeAt(i + 1) === QUOTE || text.charCodeAt(i + 1) === BACKSLASH)
      ) {
        out += text.slice(from, i) + text[i + 1];
        i += 2;
        from = i;
        continue;
      }
      if (c === QUOTE) {
        cur.i = i + 1;
        return { string: out + text.slice(from, i) };
      }
      i++;
    }
    throw new LineSyntaxError(`unterminated string in field ${clip(key)}`);
  }
  let i = i0;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === SPACE) break;
    i++;
  }
  cur.i = i;
  const raw = text.slice(i0, i);
  switch (raw) {
    case 't':
    case 'T':
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'f':
    case 'F':
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
  }
  const last = raw.charCodeAt(raw.length - 1);
  if (last === 105 /* i */ || last === 117 /* u */) {
    const digits = raw.slice(0, -1);
    if (!isInteger(digits, last === 105)) throw new LineSyntaxError(`field ${clip(key)}: invalid integer ${clip(raw)}`);
    return Number(digits);
  }
  if (!isFloat(raw)) throw new LineSyntaxError(`field ${clip(key)}: invalid number ${clip(raw)}`);
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new LineSyntaxError(`field ${clip(key)}: number out of range ${clip(raw)}`);
  return v;
}

function isInteger(s: string, signed: boolean): boolean {
  let i = 0;
  if (signed && s.charCodeAt(0) === 45 /* - */) i = 1;
  if (i >= s.length) return false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** `[-+]digits[.digits][e[-+]digits]` (one pass; Number() alone would also take `0x10`, `Infinity` and blanks). */
function isFloat(s: string): boolean {
  let i = 0;
  const n = s.length;
  if (i < n && (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43)) i++;
  let digits = 0;
  while (i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) {
    i++;
    digits++;
  }
  if (i < n && s.charCodeAt(i) === 46 /* . */) {
    i++;
    while (i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return false;
  if (i < n && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69) /* e E */) {
    i++;
    if (i < n && (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43)) i++;
    let exp = 0;
    while (i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) {
      i++;
      exp++;
    }
    if (exp === 0) return false;
  }
  return i === n;
}

/** An integer timestamp in `precision`, as epoch ms: digits beyond ms are cut, so no float rounding is involved. */
function readTimestamp(text: string, start: number, end: number, precision: LinePrecision): number {
  const raw = text.slice(start, end);
  if (!isInteger(raw, true)) throw new LineSyntaxError(`invalid timestamp ${clip(raw)}`);
  const neg = raw.charCodeAt(0) === 45;
  const digits = neg ? raw.slice(1) : raw;
  const { cut, mul } = TO_MS[precision];
  const kept = cut === 0 ? digits : digits.length > cut ? digits.slice(0, digits.length - cut) : '0';
  if (kept.length > 16) throw new LineSyntaxError(`timestamp out of range ${clip(raw)}`);
  const ms = Number(kept) * mul;
  return neg ? -ms : ms;
}

/** A bounded piece of the input for an error message. */
export const clip = (s: string): string => (s.length > 40 ? `${s.slice(0, 40)}…` : s);

/** The start of a line for an error message: bounded, and quoted so that control characters show. */
function excerpt(text: string, start: number, end: number): string {
  const s = text.slice(start, Math.min(end, start + 80));
  return JSON.stringify(end - start > 80 ? `${s}…` : s);
}

/** The metric a field becomes: `<measurement>_<field>` (Telegraf's own naming, e.g. `cpu_usage_idle`). */
export const metricNameOf = (measurement: string, field: string): string => `${measurement}_${field}`;

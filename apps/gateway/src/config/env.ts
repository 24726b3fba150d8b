import { parseDuration } from '@fieldline/contracts';
import { z } from 'zod';
import { ConfigError } from './config-error';

/** The process environment, or a test's stand-in for it: the one input of every configuration section. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Schema of one variable: its text (undefined when unset) in, its typed value out. */
export type EnvValue<T> = z.ZodType<T, string | undefined>;

/** A custom check's refusal: the text after `VARIABLE: ` in the start-up message. */
export type Refusal = { refused: string };

/**
 * Parses a section's variables with `schema` (an object keyed by variable name). The first refusal becomes a
 * {@link ConfigError} naming its variable: a refusal of a whole section names the variable in its path.
 */
export function parseSection<T>(schema: z.ZodType<T>, env: Env): T {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ConfigError(String(issue.path[0] ?? 'configuration'), issue.message);
}

/** Refuses the section being parsed, naming `variable` (for checks that span several variables). */
export function refuse(ctx: z.RefinementCtx, variable: string, message: string): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', path: [variable], message });
  return z.NEVER;
}

/**
 * `value` parses a set variable; unset or blank gives `def`. Blank counts as unset because `FOO=` in a compose file
 * or an env file usually means "leave it at the default".
 */
export function withDefault<T>(def: T, value: z.ZodType<T, string>): EnvValue<T> {
  return z
    .string()
    .optional()
    .transform((text) => (text === undefined || text.trim() === '' ? undefined : text))
    .pipe(value.optional())
    .transform((v) => (v === undefined ? def : v));
}

/** A variable that must be set: unset or blank is refused with `message`. */
export function required<T>(message: string, value: z.ZodType<T, string>): EnvValue<T> {
  return z
    .string({ error: message })
    .refine((t) => t.trim() !== '', { error: message, abort: true })
    .pipe(value);
}

/** A value checked by a function that returns it or a {@link Refusal} (formats zod has no primitive for). */
export function checked<T>(parse: (text: string) => T | Refusal): z.ZodType<T, string> {
  return z.string().transform((text, ctx) => {
    const v = parse(text);
    if (v !== null && typeof v === 'object' && 'refused' in v) {
      ctx.addIssue({ code: 'custom', message: v.refused });
      return z.NEVER;
    }
    return v;
  });
}

/** An integer in `[min, max]`. */
export function integer(def: number, min: number, max: number): EnvValue<number> {
  return withDefault(
    def,
    z
      .string()
      .trim()
      .regex(/^\d+$/, { error: (iss) => `must be an integer, got "${String(iss.input)}"` })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(min, { error: (iss) => `must be between ${min} and ${max}, got ${String(iss.input)}` })
          .max(max, { error: (iss) => `must be between ${min} and ${max}, got ${String(iss.input)}` }),
      ),
  );
}

/** A finite number in `[min, max]` (`0.5`, `1e3`). */
export function decimal(def: number, min: number, max: number): EnvValue<number> {
  const inRange = (text: string): boolean => {
    const n = Number(text);
    return Number.isFinite(n) && n >= min && n <= max;
  };
  return withDefault(
    def,
    z
      .string()
      .refine(inRange, { error: (iss) => `must be a number between ${min} and ${max}, got "${String(iss.input)}"` })
      .transform(Number),
  );
}

/** `true`/`false` and the usual spellings of them (`1`, `yes`, `on`, ...). */
export function boolean(def: boolean): EnvValue<boolean> {
  return withDefault(
    def,
    checked((text) => {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      return { refused: `must be true or false, got "${text}"` };
    }),
  );
}

/** One of `values` (the refusal lists them as `message` when given, else as `a or b`). */
export function oneOf<const V extends readonly [string, ...string[]]>(
  def: V[number],
  values: V,
  message?: string,
): EnvValue<V[number]> {
  return withDefault(
    def,
    z
      .string()
      .trim()
      .pipe(
        z.enum(values, { error: (iss) => message ?? `must be ${values.join(' or ')}, got "${String(iss.input)}"` }),
      ),
  );
}

/** A URL with one of `protocols` (`mqtt:`, `https:` ...); unset: null. */
export function url(protocols: readonly string[]): EnvValue<string | null> {
  return withDefault<string | null>(
    null,
    checked((text) => {
      if (!URL.canParse(text)) return { refused: `must be a URL, got "${text}"` };
      const { protocol } = new URL(text);
      return protocols.includes(protocol) ? text : { refused: `must use ${protocols.join(' or ')}, got "${protocol}"` };
    }),
  );
}

/** Text matching `pattern`, trimmed; `rule` words the pattern for the refusal. */
export function matching(def: string, pattern: RegExp, rule: string): EnvValue<string> {
  return withDefault(
    def,
    z
      .string()
      .trim()
      .regex(pattern, { error: (iss) => `must be ${rule}, got "${String(iss.input)}"` }),
  );
}

/** Text taken as it is (credentials are never trimmed); unset: `def`. */
export function text<T extends string | null>(def: T): EnvValue<string | T> {
  return withDefault<string | T>(def, z.string());
}

/** A comma-separated list, items trimmed, empty items dropped; unset: empty. */
export function list<T>(item: z.ZodType<T, string>): EnvValue<T[]> {
  return withDefault<T[]>(
    [],
    z
      .string()
      .transform((t) =>
        t
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .pipe(z.array(item)),
  );
}

/** A byte size: an integer with an optional unit (`k`, `m`, `g`: powers of 1024; `KiB`, `MB` and the like accepted). */
export function bytes(def: number, min: number, max: number): EnvValue<number> {
  const UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return withDefault(
    def,
    checked((text) => {
      const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
      if (!m) return { refused: `must be a size in bytes such as 1073741824, 512m or 1g; got "${text}"` };
      const n = Number(m[1]) * UNIT[m[2].toLowerCase()];
      return n < min || n > max ? { refused: `must be between ${min} and ${max} bytes, got ${n}` } : n;
    }),
  );
}

/** A duration (`15m`, `8h`, `7d`) in milliseconds, within `[minMs, maxMs]`; `rule` words the refusal. */
export function duration(defMs: number, minMs: number, maxMs: number, rule: string): EnvValue<number> {
  return withDefault(
    defMs,
    checked((text) => {
      const ms = parseDuration(text);
      return ms === null || ms < minMs || ms > maxMs ? { refused: `must be ${rule}, got "${text}"` } : ms;
    }),
  );
}

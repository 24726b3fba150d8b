import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage } from '@fieldline/contracts';

/** A bad command line: the CLIs print its message and their usage, and exit with 2. */
export class UsageError extends Error {}

/** Parses `--flags` strictly (no positionals, unknown flags refused) into their values; errors are UsageErrors. */
export function parseFlags<const O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

/** A numeric flag: `def` when absent, else a finite number >= `min` (an integer with `int`). */
export function numberFlag(
  text: string | undefined,
  flag: string,
  o: { def: number; min: number; int?: boolean },
): number {
  if (text === undefined) return o.def;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < o.min || (o.int && !Number.isInteger(n)))
    throw new UsageError(`${flag} must be ${o.int ? 'an integer' : 'a number'} >= ${o.min}, got "${text}"`);
  return n;
}

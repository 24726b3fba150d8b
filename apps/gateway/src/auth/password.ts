import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Operator passwords are stored as scrypt hashes in PHC string form:
 * `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, base64>$<hash, base64>` (base64 without padding). The parameters travel
 * with the hash, so they can be raised later without invalidating existing entries.
 */
export const SCRYPT_DEFAULTS = { ln: 15, r: 8, p: 1 } as const;

const KEY_LENGTH = 32;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/;

interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/** Parsed hash, or a reason why the text is not one. Bounds keep a bad entry from costing gigabytes at login. */
export function parsePasswordHash(text: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | string {
  const m = PHC.exec(text);
  if (!m) return 'is not a scrypt hash of the form $scrypt$ln=15,r=8,p=1$<salt>$<hash> (npm run hash-password)';
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.ln < 10 || params.ln > 20) return 'scrypt ln must be between 10 and 20';
  if (params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) return 'scrypt r must be 1–32 and p 1–16';
  return { params, salt: Buffer.from(m[4], 'base64'), hash: Buffer.from(m[5], 'base64') };
}

function derive(password: string, salt: Buffer, { ln, r, p }: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, length, { N, r, p, maxmem: 256 * N * r + (1 << 20) }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, params, KEY_LENGTH);
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

/** Checks a password against a stored hash in constant time. A malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (typeof parsed === 'string') return false;
  const key = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return timingSafeEqual(key, parsed.hash);
}

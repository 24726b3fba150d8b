/**
 * The form of a configured operator password hash (ADMIN_PASSWORD_HASH, USERS, USERS_FILE), checked at start; the
 * hashing itself is auth/password.ts. Scrypt in PHC string form:
 * `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, base64>$<hash, base64>` (base64 without padding). The parameters travel
 * with the hash, so they can be raised later without invalidating existing entries.
 */
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/;

export interface ScryptParams {
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

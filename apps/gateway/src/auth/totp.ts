import { createHmac, timingSafeEqual } from 'node:crypto';

/** RFC 6238 as authenticator apps use it: HMAC-SHA1, 30 s steps, 6 digits. */
const STEP_S = 30;
const DIGITS = 6;

/** The RFC 4226 code of `counter` under `secret`. */
export function hotp(secret: Buffer, counter: number, digits = DIGITS): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, '0');
}

/**
 * Time-based one-time codes of the users that have a TOTP secret (TOTP_SECRETS). A code is good for its 30 s step and
 * the steps either side (clock drift), and only once: a step at or before the last one accepted for the user is
 * refused, so a code seen over someone's shoulder cannot be replayed.
 */
export class TotpVerifier {
  private readonly lastStep = new Map<string, number>();

  constructor(
    private readonly secrets: ReadonlyMap<string, Buffer>,
    private readonly now: () => number,
  ) {}

  /** Whether `username` needs a code. */
  has(username: string): boolean {
    return this.secrets.has(username);
  }

  /** Checks (and uses up) `code` for `username`. */
  verify(username: string, code: unknown): boolean {
    const secret = this.secrets.get(username);
    if (!secret || typeof code !== 'string' || !/^\d{6}$/.test(code)) return false;
    const step = Math.floor(this.now() / 1000 / STEP_S);
    const given = Buffer.from(code);
    for (const s of [step - 1, step, step + 1]) {
      if (s <= (this.lastStep.get(username) ?? -1)) continue;
      if (timingSafeEqual(Buffer.from(hotp(secret, s)), given)) {
        this.lastStep.set(username, s);
        return true;
      }
    }
    return false;
  }
}

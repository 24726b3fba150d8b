import { base32 } from '../config/auth.config';
import { hotp, TotpVerifier } from './totp';

const RFC_SECRET = Buffer.from('12345678901234567890');

describe('TOTP', () => {
  it('matches the RFC 4226 and RFC 6238 (SHA-1) test vectors', () => {
    expect([0, 1, 2, 9].map((c) => hotp(RFC_SECRET, c))).toEqual(['755224', '287082', '359152', '520489']);
    const at = (t: number) => hotp(RFC_SECRET, Math.floor(t / 30), 8);
    expect([59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000].map(at)).toEqual([
      '94287082',
      '07081804',
      '14050471',
      '89005924',
      '69279037',
      '65353130',
    ]);
  });

  it('decodes base32 as authenticator apps write it', () => {
    expect(base32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')).toEqual(RFC_SECRET);
    expect(base32('gezd gnbv gy3t qojq gezd gnbv gy3t qojq')).toEqual(RFC_SECRET);
    expect(base32('not base32!')).toBeNull();
  });

  it('takes a code of this step or the next or last one, each only once', () => {
    let now = 1_111_111_111_000;
    const v = new TotpVerifier(new Map([['admin', RFC_SECRET]]), () => now);
    const step = Math.floor(now / 30_000);
    expect(v.has('admin')).toBe(true);
    expect(v.has('viewer')).toBe(false);
    expect(v.verify('admin', hotp(RFC_SECRET, step - 2))).toBe(false);
    expect(v.verify('admin', hotp(RFC_SECRET, step - 1))).toBe(true);
    expect(v.verify('admin', hotp(RFC_SECRET, step - 1))).toBe(false);
    expect(v.verify('admin', hotp(RFC_SECRET, step))).toBe(true);
    expect(v.verify('admin', hotp(RFC_SECRET, step))).toBe(false);
    now += 30_000;
    expect(v.verify('admin', hotp(RFC_SECRET, step + 1))).toBe(true);
    for (const bad of [undefined, 123456, '12345', 'abcdef', hotp(RFC_SECRET, step + 5)])
      expect(v.verify('admin', bad)).toBe(false);
    expect(v.verify('viewer', hotp(RFC_SECRET, step + 2))).toBe(false);
  });
});

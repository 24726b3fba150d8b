import { parsePasswordHash } from '../config/password-hash';
import { hashPassword, verifyPassword } from './password';

describe('password hashing (scrypt, PHC strings)', () => {
  const cheap = { ln: 10, r: 8, p: 1 };

  it('verifies the right password only, with a fresh salt each time', async () => {
    const a = await hashPassword('correct horse', cheap);
    const b = await hashPassword('correct horse', cheap);
    expect(a).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horse!', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('treats Unicode forms alike (NFC)', async () => {
    const h = await hashPassword('caf\u00e9', cheap);
    expect(await verifyPassword('cafe\u0301', h)).toBe(true);
  });

  it('defaults to ln=15 and refuses malformed or extreme parameters', async () => {
    expect(await hashPassword('x')).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$/);
    expect(typeof parsePasswordHash('plain-text')).toBe('string');
    expect(typeof parsePasswordHash('$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43))).toBe('string');
    expect(typeof parsePasswordHash('$scrypt$ln=15,r=64,p=1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43))).toBe('string');
    expect(await verifyPassword('x', 'not a hash')).toBe(false);
  });
});

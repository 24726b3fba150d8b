/*
 * Prints the scrypt hash of a password, for ADMIN_PASSWORD_HASH, USERS and USERS_FILE entries:
 *   npm run hash-password                    (asks for it; nothing is echoed)
 *   printf %s "$PW" | npm run --silent hash-password
 */
import { createInterface } from 'node:readline';
import { MIN_PASSWORD_LENGTH } from '../config/auth.config';
import { hashPassword } from './password';
import { errorMessage } from '@fieldline/contracts';

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    return text.replace(/\r?\n$/, '');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Keep the typed password off the screen.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  process.stderr.write('password: ');
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

async function main(): Promise<number> {
  const password = await readPassword();
  if (password.length < MIN_PASSWORD_LENGTH) {
    process.stderr.write(`a password has at least ${MIN_PASSWORD_LENGTH} characters\n`);
    return 2;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${errorMessage(err)}\n`);
    process.exit(1);
  },
);

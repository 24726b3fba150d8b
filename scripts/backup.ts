/*
 * Takes an online backup of a running gateway in embedded mode (docs/backup.md):
 *
 *   npm run backup -- [dir]
 *
 * `dir`: where to write, relative to the gateway's BACKUP_DIR (default DATA_DIR/backups) or absolute inside it;
 * default a new timestamped directory. The gateway is reached at FIELDLINE_URL (default http://127.0.0.1:$PORT,
 * PORT 3000) as an admin: FIELDLINE_TOKEN (an access token), or FIELDLINE_USER (default admin) with
 * FIELDLINE_PASSWORD (default ADMIN_PASSWORD). Prints the backup's manifest; exits 1 on a refusal.
 */
import { AuthPath, BackupPath, type BackupResponse, type ErrorBody, errorMessage } from '../libs/contracts/src';

async function adminToken(url: string): Promise<string> {
  const token = process.env.FIELDLINE_TOKEN;
  if (token) return token;
  const password = process.env.FIELDLINE_PASSWORD ?? process.env.ADMIN_PASSWORD;
  if (!password) throw new Error('set FIELDLINE_TOKEN, or FIELDLINE_PASSWORD (or ADMIN_PASSWORD) of an admin');
  const res = await fetch(url + AuthPath.login, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: process.env.FIELDLINE_USER ?? 'admin', password }),
  });
  const body = (await res.json()) as { accessToken?: string } & Partial<ErrorBody>;
  if (!res.ok || !body.accessToken)
    throw new Error(`login refused: ${res.status} ${body.code ?? ''} ${body.message ?? ''}`);
  return body.accessToken;
}

async function main(): Promise<void> {
  const url = (process.env.FIELDLINE_URL ?? `http://127.0.0.1:${process.env.PORT ?? '3000'}`).replace(/\/$/, '');
  const dir = process.argv[2];
  const res = await fetch(url + BackupPath, {
    method: 'POST',
    headers: { authorization: `Bearer ${await adminToken(url)}`, 'content-type': 'application/json' },
    body: JSON.stringify(dir === undefined ? {} : { dir }),
  });
  const body = (await res.json()) as BackupResponse & Partial<ErrorBody>;
  if (!res.ok) throw new Error(`backup refused: ${res.status} ${body.code ?? ''}: ${body.message ?? ''}`);
  const bytes = body.files.reduce((n, f) => n + f.bytes, 0);
  console.log(`backup written to ${body.dir} (${bytes} bytes, ${body.finishedAt - body.startedAt} ms)`);
  console.log(JSON.stringify(body, null, 2));
}

main().catch((err: unknown) => {
  console.error(errorMessage(err));
  process.exit(1);
});
